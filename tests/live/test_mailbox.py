"""IMAP polling against a real Dovecot: incremental, idle, UIDVALIDITY, drops, post-actions."""

from __future__ import annotations

import hashlib
import threading
import time
from email.header import Header
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.selection import decode_subject, fold, search_criteria
from pipeline.mail.watcher import Watcher
from storage import Message, open_store
from storage.mailbox_models import MailboxCursor

from harness.dovecot import DroppingProxy, imap, mailbox_toml, message, write_config

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "mailbox"


def _watcher(tmp_path: Path, toml: str) -> Watcher:
    cfg = config_mod.load(write_config(tmp_path, toml))
    w = Watcher(cfg, open_store(cfg.database_url), Sandbox(workers=1))
    w.prepare()
    return w


def _rows(w: Watcher) -> list[Message]:
    with Session(w.engine) as s:
        return list(s.exec(select(Message).order_by(Message.uid)).all())


def _cursor(w: Watcher, folder: str = "INBOX") -> MailboxCursor:
    with Session(w.engine) as s:
        return s.exec(select(MailboxCursor).where(MailboxCursor.folder == folder)).one()


def _append(server, user: str, msgs: list[bytes], folder: str = "INBOX") -> None:
    c = imap(server, user)
    for raw in msgs:
        c.append(folder, raw)
    c.logout()


def test_incremental_polls_fetch_only_new_vendor_mail(dovecot, tmp_path):
    user = dovecot.add_user("incremental")
    _append(dovecot, user, [message(1), message(2), message(3, sender="news@loja.com.br"),
                            message(4, sender="cobranca@nfe.serpro.gov.br")])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user))
    [r] = w.poll_due(force=True)
    assert r.error is None and r.stored == 3 and r.candidates == 3
    assert _cursor(w).last_uid == 4 and _cursor(w).uidnext == 5
    _append(dovecot, user, [message(5), message(6)])
    [r] = w.poll_due(force=True)
    assert (r.stored, r.candidates, r.idle) == (2, 2, False)
    assert [m.uid for m in _rows(w)] == [1, 2, 4, 5, 6]
    [r] = w.poll_due(force=True)
    assert r.idle and r.fetch_commands == 0 and r.selects == 0 and r.status_calls == 1
    assert len(_rows(w)) == 5


@pytest.mark.slow
def test_idle_poll_of_10000_messages_fetches_nothing(dovecot, tmp_path):
    user = dovecot.add_user("bigbox")
    msgs = [message(i) if i % 20 == 0 else message(i, sender="news@loja.com.br")
            for i in range(10_000)]
    dovecot.seed(user, msgs)
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after="none"))
    started = time.perf_counter()
    [r] = w.poll_due(force=True)
    took = time.perf_counter() - started
    assert r.error is None and r.stored == 500
    print(f"\nfirst poll of 10,000 (500 vendor): {took:.2f} s, {r.fetched / took:.0f} msg/s")
    before = _cursor(w)
    started = time.perf_counter()
    [r] = w.poll_due(force=True)
    took = time.perf_counter() - started
    print(f"idle poll of 10,000 messages: {took * 1000:.1f} ms (STATUS only)")
    assert r.idle and r.fetch_commands == 0 and r.searches == 0 and r.selects == 0
    after = _cursor(w)
    assert (after.uidvalidity, after.last_uid, after.uidnext) == \
        (before.uidvalidity, before.last_uid, before.uidnext)
    assert len(_rows(w)) == 500


def test_uidvalidity_reset_resyncs_without_reingesting(dovecot, tmp_path):
    user = dovecot.add_user("uidvalidity")
    _append(dovecot, user, [message(i) for i in range(3)])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after="none"))
    [r] = w.poll_due(force=True)
    old = _cursor(w).uidvalidity
    assert r.stored == 3
    dovecot.doveadm("mailbox", "update", "--uid-validity", str(old + 1000), "-u", user, "INBOX")
    _append(dovecot, user, [message(10)])
    [r] = w.poll_due(force=True)
    assert r.resync and r.error is None
    assert (r.stored, r.known) == (1, 3)
    rows = _rows(w)
    assert len(rows) == 4 and {m.uidvalidity for m in rows} == {old + 1000}
    assert _cursor(w).uidvalidity == old + 1000


def test_connection_dropped_mid_fetch_resumes_without_duplicates(dovecot, tmp_path):
    user = dovecot.add_user("dropped")
    _append(dovecot, user, [message(i, size=3000) for i in range(40)])
    proxy = DroppingProxy(dovecot, after=60_000)
    try:
        w = _watcher(tmp_path, mailbox_toml(dovecot, user, port=proxy.port, after="none"))
        [r] = w.poll_due(force=True)
    finally:
        proxy.close()
    assert proxy.drops == 1 and r.reconnects >= 1 and r.error is None
    rows = _rows(w)
    assert len(rows) == 40 and len({m.uid for m in rows}) == 40
    assert _cursor(w).last_uid == 40


@pytest.mark.slow
def test_server_restart_during_poll_is_survived(dovecot, tmp_path):
    user = dovecot.add_user("restart")
    _append(dovecot, user, [message(1)])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after="none"))
    assert w.poll_due(force=True)[0].stored == 1
    _append(dovecot, user, [message(2)])
    dovecot.stop()
    starter = threading.Timer(0.3, dovecot.start)
    starter.start()
    try:
        [r] = w.poll_due(force=True)
    finally:
        starter.join()
    if r.error:  # the server took longer than the backoff: the next poll finishes the work
        assert _cursor(w).last_error and _cursor(w).failures == 1
        [r] = w.poll_due(force=True)
    assert r.error is None and r.stored == 1
    assert len(_rows(w)) == 2 and _cursor(w).failures == 0


@pytest.mark.parametrize("after", ["flag", "flag:$Confere", "label:Faturas", "move:Processados",
                                   "none"])
def test_post_actions(dovecot, tmp_path, after):
    user = dovecot.add_user("after" + after.replace(":", "").replace("$", "").lower())
    _append(dovecot, user, [message(1), message(2), message(3, sender="news@loja.com.br")])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after=after))
    [r] = w.poll_due(force=True)
    assert r.error is None and r.stored == 2
    c = imap(dovecot, user)
    c.select_folder("INBOX")
    flags = {uid: set(d[b"FLAGS"]) - {b"\\Recent"}
             for uid, d in c.fetch(c.search("ALL"), ["FLAGS"]).items()}
    if after == "move:Processados":
        assert set(flags) == {3}
        c.select_folder("Processados")
        assert len(c.search("ALL")) == 2
    elif after == "none":
        assert all(not f for f in flags.values())
    else:
        flag = {"flag": b"\\Seen", "flag:$Confere": b"$Confere",
                "label:Faturas": b"Faturas"}[after]
        assert flag in flags[1] and flag in flags[2] and flag not in flags[3]
    c.logout()
    assert _cursor(w).acted_uid == _cursor(w).last_uid == 3


def test_post_action_redone_after_a_crash_between_commit_and_flag(dovecot, tmp_path):
    user = dovecot.add_user("crashflag")
    _append(dovecot, user, [message(1), message(2)])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after="flag"))
    w.poll_due(force=True)
    c = imap(dovecot, user)
    c.select_folder("INBOX")
    c.remove_flags([1, 2], [b"\\Seen"])
    with Session(w.engine) as s:  # as if the process died after the commit, before the flag
        cur = s.exec(select(MailboxCursor)).one()
        cur.acted_uid = 0
        s.add(cur)
        s.commit()
    [r] = w.poll_due(force=True)
    assert r.acted == 2 and r.stored == 0
    assert all(b"\\Seen" in d[b"FLAGS"] for d in c.fetch([1, 2], ["FLAGS"]).values())
    c.logout()


def test_non_ascii_subjects_and_folders(dovecot, tmp_path):
    user = dovecot.add_user("acentos")
    c = imap(dovecot, user)
    c.create_folder("Cobranças")
    c.logout()
    subject = Header("Fwd: SERPRO – Fatura da Competência 10/2026", "utf-8").encode()
    latin = Header("Fatura Integra Contador - março", "iso-8859-1").encode()
    _append(dovecot, user, [
        message(1, sender="joao@example.com.br", subject=subject),
        message(2, sender="maria@example.com.br", subject=latin),
        message(3, sender="maria@example.com.br", subject="Almoço de sexta"),
        message(4, subject=Header("Aviso de cobrança", "utf-8").encode()),
        _with_attachment(message(5, sender="ana@example.com.br", subject="Segue"),
                         "Fatura_2026-10.PDF"),
        _with_attachment(message(6, sender="ana@example.com.br", subject="Fotos"), "praia.jpg"),
    ], folder="Cobranças")
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, folders=("Cobranças",)))
    [r] = w.poll_due(force=True)
    assert r.error is None and r.folder == "Cobranças"
    # The lunch invitation and the photos are not fetched; a colleague's forward whose
    # subject says nothing is, for the PDF it carries.
    assert r.candidates == 6 and r.stored == 4
    assert sorted(m.uid for m in _rows(w)) == [1, 2, 4, 5]


def _with_attachment(plain: bytes, filename: str) -> bytes:
    """A message made multipart, with one small attachment of this name."""
    head, body = plain.split(b"\r\n\r\n", 1)
    head = head.replace(b"Content-Type: text/plain; charset=utf-8",
                        b'Content-Type: multipart/mixed; boundary="b1"')
    return (head + b"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
            + b"\r\n--b1\r\nContent-Type: application/octet-stream\r\n"
            + f'Content-Disposition: attachment; filename="{filename}"\r\n'.encode()
            + b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n")


def test_search_is_ascii_and_subjects_fold():
    crit = search_criteria(5, 99, ["serpro.gov.br", "exemplo.com.br", "correio.ação.br"],
                           subjects=["serpro", "competência"])
    assert crit == ["UID", "5:99", "OR", "OR", "FROM", "serpro.gov.br", "FROM", "exemplo.com.br",
                    "SUBJECT", "serpro"]
    assert all(str(x).isascii() for x in crit)
    assert fold("Competência  MARÇO") == "competencia marco"
    assert decode_subject(b"=?utf-8?q?Compet=C3=AAncia?=") == "Competência"


def test_the_whole_sample_mailbox_over_imap(dovecot, tmp_path):
    user = dovecot.add_user("sample")
    files = sorted(FIXTURE.glob("*.eml"))
    _append(dovecot, user, [f.read_bytes() for f in files])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user))
    [r] = w.poll_due(force=True)
    # Everything but the shop's spam: look-alike senders come in by their SERPRO subject.
    assert r.stored == len(files) - 1
    stored = {m.sha256 for m in _rows(w)}
    digest = lambda name: hashlib.sha256((FIXTURE / name).read_bytes()).hexdigest()  # noqa: E731
    assert digest("tampered-sender-lookalike.eml") in stored
    assert digest("ignored-spam.eml") not in stored


def test_real_bill_over_imap_becomes_an_invoice(dovecot, tmp_path):
    user = dovecot.add_user("realbill")
    _append(dovecot, user, [(FIXTURE / "genuine-01-abrasf-bare.eml").read_bytes()])
    w = _watcher(tmp_path, mailbox_toml(dovecot, user))
    assert w.poll_due(force=True)[0].stored == 1
    [res] = w.process_pending()
    assert res.status == "invoice"
