"""A desk to test against: a store of sample bills, users and tokens, and the app on loopback."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAILBOX = ROOT / "fixtures" / "mailbox"
TEST_CAS = ROOT / "fixtures" / "keys" / "test-cas.pem"  # the fixtures' test PKI, trusted
# The desk's calendar in tests: a Tuesday in the week the sample's November bill is due.
TODAY = date(2026, 11, 17)
PASSWORD = "senha-de-teste-123"
ROLES = ("viewer", "approver", "admin")
SCRIPT_SUBJECT = "Fatura <script>window.__pwned = 'subject'</script> SERPRO"
SCRIPT_FILENAME = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>.pdf"

# Like the starter config: no bank is trusted until a person approves a bill from it, so a
# genuine bill from the sample mailbox is `review`.
CONFIG = """
[database]
url = "sqlite:///{db}"
[storage]
blobs = "{blobs}"
[company]
name = "Contabilidade Exemplo Ltda"
cnpjs = ["12345678000195"]
email_domains = ["example.com.br"]
[[contracts]]
vendor = "serpro"
number = "261074"
[alerts]
smtp_host = "127.0.0.1"
to = ["financeiro@example.com.br"]
arrival_max_age_days = 0  # the sample's bills are months old: alert on them all the same
[limits]
parse_seconds = 30
[authenticity]
signature_cas = ["{test_cas}"]
"""

EMAILS = ("genuine-02-abrasf-namespaced.eml", "genuine-05-abrasf-retentions.eml",
          "genuine-07-nacional-101-ibscbs.eml", "genuine-08-abrasf-alternative.eml",
          "tampered-bank.eml", "tampered-pix-merchant.eml", "hostile-xxe.eml")


def script_email() -> bytes:
    """A genuine bill whose subject and boleto file name carry HTML and script."""
    raw = (MAILBOX / "genuine-01-abrasf-bare.eml").read_bytes()
    raw = re.sub(rb"^Subject:.*?\r\n(?![ \t])", b"Subject: " + SCRIPT_SUBJECT.encode() + b"\r\n",
                 raw, count=1, flags=re.S | re.M)
    return raw.replace(b"boleto_261074_032026.pdf", SCRIPT_FILENAME.encode())


@dataclass
class DeskStore:
    """The files and credentials of a test desk."""

    root: Path
    config_path: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def config(self):
        from pipeline.config.settings import load

        return load(self.config_path)


def build_store(root: Path, emails: tuple[str, ...] = EMAILS,
                with_script: bool = True) -> DeskStore:
    """Ingest sample emails (and the script one), add a user and a token per role."""
    from sqlmodel import Session

    from pipeline.cli.app import App
    from pipeline.desk.users import add_token, add_user
    from pipeline.ingest.ingestor import Ingestor

    root.mkdir(parents=True, exist_ok=True)
    config_path = root / "confere.toml"
    config_path.write_text(CONFIG.format(db=root / "confere.db", blobs=root / "blobs",
                                         test_cas=TEST_CAS.as_posix()),
                           encoding="utf-8")
    files = [MAILBOX / n for n in emails]
    if with_script:
        files.append(root / "script.eml")
        files[-1].write_bytes(script_email())
    app = App(str(config_path))
    engine = app.engine()
    with app.sandbox() as sandbox:
        ingestor = Ingestor(app.config, engine, sandbox)
        results = list(ingestor.ingest_paths(files))
    assert all(r.status for _p, r in results)
    store = DeskStore(root, config_path)
    with Session(engine) as s:
        for role in ROLES:
            add_user(s, role, role, PASSWORD)
            store.tokens[role] = add_token(s, f"{role}-script", role)
        s.commit()
    engine.dispose()
    return store


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DeskServer:
    """The desk served by uvicorn in a thread on a free loopback port."""

    def __init__(self, store: DeskStore, today: date = TODAY) -> None:
        import uvicorn

        from pipeline.web.app import create_app

        self.store = store
        self.app = create_app(store.config(), today=lambda: today, secret="test-" + "k" * 40)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> DeskServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the desk did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
