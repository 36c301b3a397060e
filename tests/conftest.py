"""Shared test helpers: the fixture manifest, the demo configuration, a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["harness.logs", "harness.issuers"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def manifest() -> list[dict]:
    """The generator's own record of every sample email and what it should come out as."""
    return json.loads((FIXTURES / "manifest.json").read_text("utf-8"))


def cases(kind: str | None = None) -> list[dict]:
    """Manifest entries of one kind (genuine, tampered, review, hostile, ignored, duplicate)."""
    return [c for c in manifest() if kind is None or c["kind"] == kind]


TEST_CAS = FIXTURES / "keys" / "test-cas.pem"  # the fixtures' test root and intermediates

# The demo's configuration. It ENDS in its [authenticity] table, which trusts the fixtures'
# test PKI for NFS-e signatures: append more [authenticity] keys without a table header.
DEMO_CONFIG = """
[database]
url = "{db}"
[storage]
blobs = "{blobs}"
[company]
name = "Contabilidade Exemplo Ltda"
cnpjs = ["12345678000195"]
email_domains = ["example.com.br"]
[vendors.serpro]
banks = ["001"]
[[contracts]]
vendor = "serpro"
number = "261074"
[limits]
parse_seconds = 30
[authenticity]
signature_cas = ["@TEST_CAS@"]
""".replace("@TEST_CAS@", TEST_CAS.as_posix())


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    """A config like the demo's, on a fresh SQLite store in tmp_path."""
    path = tmp_path / "confere.toml"
    path.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp_path / 'confere.db'}",
                                       blobs=tmp_path / "blobs"), encoding="utf-8")
    return path


def run_cli(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `confere` command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-c", "from pipeline.cli.main import run; run()", *args],
                          capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"confere {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def run_clis(*commands: tuple[str, ...], env: dict | None = None,
             check: bool = True) -> list[subprocess.CompletedProcess]:
    """Several command lines at once, each its own `confere` process as run_cli runs it (for
    commands that only read, in any order); the results in the order given."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda args: run_cli(*args, env=env, check=check), commands))


def json_lines(text: str) -> list[dict]:
    """Parse one JSON object per line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """One real PostgreSQL cluster for the whole test session."""
    from harness.pgcluster import postgres_cluster

    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def smtp_server_session():
    """One real SMTP server (aiosmtpd on 127.0.0.1) for the whole test session."""
    from harness.smtp_server import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_server_session):
    """The session's SMTP server, emptied for this test."""
    smtp_server_session.clear()
    return smtp_server_session


@pytest.fixture(scope="session")
def dovecot():
    """One real Dovecot IMAP server on 127.0.0.1 for the whole test session."""
    from harness.dovecot import dovecot_server

    with dovecot_server() as server:
        yield server
