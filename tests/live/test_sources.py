"""Local sources (folder, Maildir, mbox), winmail.dat, mailbox settings and login pieces."""

from __future__ import annotations

import mailbox
import shutil
import struct
import sys
from email import message_from_bytes
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from sqlmodel import Session, select

from parsers.errors import ConfigError, MailboxError
from parsers.tnef import expand_winmail
from pipeline.config import settings as config_mod
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.cursors import FolderReport
from pipeline.mail.imap import ImapSource, oauth_token, parse_after, password
from pipeline.mail.selection import Selector
from pipeline.mail.sources import LocalSource, local_kind
from pipeline.mail.watcher import Watcher, status_rows
from storage import Message, open_store

from harness.dovecot import message

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "mailbox"


def _config(tmp_path: Path, mailboxes: list[dict]) -> config_mod.Config:
    return config_mod.from_dict({"database": {"url": f"sqlite:///{tmp_path / 'c.db'}"},
                                 "storage": {"blobs": str(tmp_path / "blobs")},
                                 "mailboxes": mailboxes}, tmp_path)


def _poll(tmp_path: Path, path: Path) -> tuple[Watcher, FolderReport]:
    cfg = _config(tmp_path, [{"name": "local", "path": str(path)}])
    w = Watcher(cfg, open_store(cfg.database_url), Sandbox(workers=1))
    w.prepare()
    [report] = w.poll_due(force=True)
    return w, report


def _count(w: Watcher) -> int:
    with Session(w.engine) as s:
        return len(s.exec(select(Message)).all())


def test_local_folder_source_is_incremental(tmp_path):
    box = tmp_path / "mail"
    box.mkdir()
    for f in sorted(FIXTURE.glob("genuine-0[1-3]*.eml")):
        shutil.copy(f, box / f.name)
    w, r = _poll(tmp_path, box)
    assert local_kind(box) == "folder" and (r.stored, r.error) == (3, None)
    shutil.copy(FIXTURE / "ignored-newsletter.eml", box / "new.eml")
    [r] = w.poll_due(force=True)
    assert r.stored == 1 and r.fetched == 1 and _count(w) == 4
    [r] = w.poll_due(force=True)
    assert r.idle and r.fetched == 0
    assert {x.status for x in w.process_pending()} == {"invoice", "ignored"}
    [row] = status_rows(w.config, w.engine)
    assert row["stored"] == 4 and row["backlog"] == 0


def test_maildir_and_mbox_sources(tmp_path):
    md = mailbox.Maildir(tmp_path / "Maildir", create=True)
    mb = mailbox.mbox(tmp_path / "box.mbox", create=True)
    for i in range(3):
        md.add(message(i))
        mb.add(message(100 + i))
    mb.flush()
    mb.close()
    w, r = _poll(tmp_path / "a", tmp_path / "Maildir")
    assert local_kind(tmp_path / "Maildir") == "maildir" and r.stored == 3
    w, r = _poll(tmp_path / "b", tmp_path / "box.mbox")
    assert local_kind(tmp_path / "box.mbox") == "mbox" and r.stored == 3
    [r] = w.poll_due(force=True)
    assert r.idle and _count(w) == 3


def test_missing_local_path_is_an_error_not_a_crash(tmp_path):
    _w, r = _poll(tmp_path, tmp_path / "nowhere")
    assert r.error and "no such file" in r.error


def _tnef(files: list[tuple[str, bytes]]) -> bytes:
    def attr(level: int, aid: int, data: bytes) -> bytes:
        return struct.pack("<BII", level, aid, len(data)) + data + \
            struct.pack("<H", sum(data) & 0xFFFF)
    out = struct.pack("<IH", 0x223E9F78, 1) + attr(1, 0x00089006, struct.pack("<I", 0x10000))
    for name, data in files:
        out += attr(2, 0x00069002, b"\x01\x00" * 7) + attr(2, 0x00018010, name.encode() + b"\0")
        out += attr(2, 0x0006800F, data)
    return out


def test_winmail_dat_is_unpacked_for_the_parser():
    msg = MIMEMultipart()
    msg["From"] = "faturamento@serpro.gov.br"
    msg["Subject"] = "Fatura"
    msg.attach(MIMEText("Segue a fatura.", "plain", "utf-8"))
    dat = MIMEApplication(_tnef([("boleto.pdf", b"%PDF-1.4 boleto"),
                                 ("nfse.xml", b"<CompNfse/>")]), "ms-tnef")
    dat.add_header("Content-Disposition", "attachment", filename="winmail.dat")
    msg.attach(dat)
    expanded = expand_winmail(msg.as_bytes())
    assert expanded is not None
    parts = [p for p in message_from_bytes(expanded).walk() if p.get_filename()]
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in parts] == \
        [("boleto.pdf", b"%PDF-1.4 boleto"), ("nfse.xml", b"<CompNfse/>")]
    assert expand_winmail(message(1)) is None


@pytest.mark.parametrize(("key", "value", "words"), [
    ("after", "delete", "not a post-action"),
    ("every", "5 minutos", "not an interval"),
    ("auth", "xoauth2", "needs token_command or token_file"),
    ("password_env", None, "set password_env"),
])
def test_mailbox_settings_name_the_key(tmp_path, key, value, words):
    box = {"name": "fin", "host": "imap.example.com.br", "username": "u",
           "password_env": "CONFERE_IMAP_PASSWORD", key: value}
    box = {k: v for k, v in box.items() if v is not None}
    with pytest.raises(ConfigError, match=words) as err:
        _config(tmp_path, [box])
    assert "mailboxes[1]" in str(err.value)  # counted from 1, as a person counts


def test_post_action_parsing():
    assert parse_after("flag") == ("flag", "\\Seen")
    assert parse_after("flag:$Conferido") == ("flag", "$Conferido")
    assert parse_after("move:Arquivo/SERPRO") == ("move", "Arquivo/SERPRO")
    assert parse_after("none") == ("none", None)


def test_secrets_from_env_file_and_token_command(tmp_path, monkeypatch):
    cfg = _config(tmp_path, [
        {"name": "a", "host": "h", "username": "u", "password_env": "CONFERE_T_PW"},
        {"name": "b", "host": "h", "username": "u", "password_file": "pw.txt"},
        {"name": "c", "host": "h", "username": "u", "auth": "xoauth2",
         "token_command": f"{sys.executable} -c \"print('tok-123')\""},
        {"name": "d", "host": "h", "username": "u", "auth": "xoauth2", "token_file": "tok"},
    ]).settings.mailboxes
    (tmp_path / "pw.txt").write_text("from-file\n")
    (tmp_path / "tok").write_text("tok-file\n")
    with pytest.raises(MailboxError, match="CONFERE_T_PW is not set"):
        password(cfg[0], tmp_path)
    monkeypatch.setenv("CONFERE_T_PW", "from-env")
    assert password(cfg[0], tmp_path) == "from-env"
    assert password(cfg[1], tmp_path) == "from-file"
    assert oauth_token(cfg[2], tmp_path) == "tok-123"
    assert oauth_token(cfg[3], tmp_path) == "tok-file"


class _FakeGmail:
    """Records the post-action commands an IMAP source sends."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def add_gmail_labels(self, uids, labels, silent=False):
        self.calls.append(("labels", list(uids), labels))

    def add_flags(self, uids, flags, silent=False):
        self.calls.append(("flags", list(uids), flags))


def test_label_uses_gmail_labels_when_the_server_has_them(tmp_path):
    cfg = _config(tmp_path, [{"name": "g", "host": "imap.gmail.com", "username": "u",
                              "password_env": "X", "after": "label:Faturas SERPRO"}])
    src = ImapSource(cfg.settings.mailboxes[0], tmp_path, Selector([], []), 10**6)
    fake = _FakeGmail()
    report = FolderReport("g", "INBOX")
    src._act(fake, {b"X-GM-EXT-1"}, [3, 4], report)
    src._act(fake, set(), [5], report)
    assert fake.calls == [("labels", [3, 4], ["Faturas SERPRO"]),
                          ("flags", [5], ["Faturas_SERPRO"])]
    assert report.acted == 3


def test_local_source_keys_are_stable(tmp_path):
    box = tmp_path / "mail"
    box.mkdir()
    shutil.copy(FIXTURE / "genuine-01-abrasf-bare.eml", box)
    cfg = _config(tmp_path, [{"name": "local", "path": str(box)}])
    src = LocalSource(cfg.settings.mailboxes[0], tmp_path)
    assert [k for k, _ in src.messages()] == [str(box / "genuine-01-abrasf-bare.eml")]


@pytest.mark.slow
def test_a_real_bill_inside_winmail_dat_is_judged_through_ingest(tmp_path, demo_config):
    from email import message_from_bytes as parse_bytes

    from conftest import FIXTURES, cases, json_lines, run_cli

    original = parse_bytes((FIXTURES / cases("genuine")[0]["file"]).read_bytes())
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in original.walk()
             if p.get_filename()]
    msg = MIMEMultipart()
    for header in ("From", "To", "Subject", "Date", "Message-ID"):
        msg[header] = original[header]
    body = next(p for p in original.walk() if p.get_content_type() == "text/plain")
    msg.attach(MIMEText(body.get_payload(decode=True).decode("utf-8"), "plain", "utf-8"))
    dat = MIMEApplication(_tnef(files), "ms-tnef")
    dat.add_header("Content-Disposition", "attachment", filename="winmail.dat")
    msg.attach(dat)
    path = tmp_path / "outlook.eml"
    path.write_bytes(msg.as_bytes())
    line = json_lines(run_cli("ingest", "--json", "--config", str(demo_config),
                              str(path)).stdout)[0]
    assert line["status"] == "invoice", line["reason"]
    assert line["invoice"]["verdict"] == "ok"
