"""Post-actions on servers laid out like others: no MOVE / UIDPLUS, folders under 'INBOX.'.

Each server is a real Dovecot configured to advertise less (imap_capability) or to keep the
personal namespace under "INBOX." with "." as delimiter (the Cyrus and Courier layout). Every
test checks the user's own mail: a message the user flagged \\Deleted survives confere's move.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.watcher import Watcher, status_rows
from storage import Message, open_store, utcnow

from harness.dovecot import dovecot_server, imap, mailbox_toml, message, write_config


@pytest.fixture(scope="module")
def cyrus_like():
    """A Dovecot without MOVE and UIDPLUS whose folders live under 'INBOX.' ('.' delimiter)."""
    with dovecot_server(without=("MOVE", "UIDPLUS"), prefix="INBOX.", separator=".") as server:
        yield server


@pytest.fixture(scope="module")
def no_move():
    """A Dovecot with UIDPLUS but without MOVE."""
    with dovecot_server(without=("MOVE",)) as server:
        yield server


def _watcher(tmp_path: Path, toml: str) -> Watcher:
    cfg = config_mod.load(write_config(tmp_path, toml))
    w = Watcher(cfg, open_store(cfg.database_url), Sandbox(workers=1))
    w.prepare()
    return w


def _setup(server, user: str) -> None:
    """Two vendor notices, and the user's own mail: one flagged \\Deleted, one not."""
    server.add_user(user)
    c = imap(server, user)
    c.append("INBOX", message(1))
    c.append("INBOX", message(2, sender="amiga@pessoal.com.br", subject="Minha nota"),
             flags=[b"\\Deleted"])
    c.append("INBOX", message(3, sender="loja@pessoal.com.br", subject="Pedido"))
    c.append("INBOX", message(4))
    c.logout()


def _folder(server, user: str, folder: str) -> dict[int, tuple[str, set[bytes]]]:
    """UID -> (subject, flags) of every message in a folder, as the user's client sees it."""
    c = imap(server, user)
    try:
        c.select_folder(folder, readonly=True)
        data = c.fetch(c.search("ALL"), ["ENVELOPE", "FLAGS"])
        return {u: (d[b"ENVELOPE"].subject.decode(), set(d[b"FLAGS"]) - {b"\\Recent"})
                for u, d in data.items()}
    finally:
        c.logout()


def test_the_server_advertises_what_the_test_says(cyrus_like, no_move):
    caps = set(cyrus_like.capabilities())
    assert "MOVE" not in caps and "UIDPLUS" not in caps and "IMAP4rev1" in caps
    assert "MOVE" not in set(no_move.capabilities()) and "UIDPLUS" in no_move.capabilities()
    c = imap(cyrus_like, cyrus_like.add_user("probe"))
    personal = c.namespace().personal
    c.logout()
    assert [(p, d) for p, d in personal] == [("INBOX.", ".")]


def test_move_on_a_server_without_move_or_uidplus_expunges_nothing(cyrus_like, tmp_path,
                                                                    caplog):
    user = "nomove"
    _setup(cyrus_like, user)
    w = _watcher(tmp_path, mailbox_toml(cyrus_like, user, after="move:Processadas"))
    with caplog.at_level(logging.WARNING, "confere.mailbox"):
        [r] = w.poll_due(force=True)
        [again] = w.poll_due(force=True)
    assert r.error is None and r.stored == 2 and r.acted == 2 and r.action_failures == 0
    assert again.error is None and again.idle
    moved = _folder(cyrus_like, user, "INBOX.Processadas")
    assert sorted(s for s, _f in moved.values()) == ["Aviso 1", "Aviso 4"]
    inbox = _folder(cyrus_like, user, "INBOX")
    # Nothing expunged: the user's own \Deleted message is still there, and confere's copies
    # wait, flagged \Deleted, for the user's client to expunge them.
    assert sorted(inbox) == [1, 2, 3, 4]
    assert inbox[2] == ("Minha nota", {b"\\Deleted"})
    assert b"\\Deleted" not in inbox[3][1]
    assert b"\\Deleted" in inbox[1][1] and b"\\Deleted" in inbox[4][1]
    said = [rec.message for rec in caplog.records if "neither MOVE nor UIDPLUS" in rec.message]
    assert len(said) == 1 and "INBOX.Processadas" in said[0]
    assert cyrus_like.maildir(user, "INBOX.Processadas").is_dir()


def test_move_with_uidplus_expunges_only_its_own_messages(no_move, tmp_path):
    user = "uidplus"
    _setup(no_move, user)
    w = _watcher(tmp_path, mailbox_toml(no_move, user, after="move:Processadas"))
    [r] = w.poll_due(force=True)
    assert r.error is None and r.stored == 2 and r.acted == 2
    assert sorted(s for s, _f in _folder(no_move, user, "Processadas").values()) == \
        ["Aviso 1", "Aviso 4"]
    inbox = _folder(no_move, user, "INBOX")
    assert inbox == {2: ("Minha nota", {b"\\Deleted"}), 3: ("Pedido", set())}


def test_move_with_move_leaves_the_users_deleted_mail(dovecot, tmp_path):
    user = "withmove"
    _setup(dovecot, user)
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after="move:Processadas"))
    [r] = w.poll_due(force=True)
    assert r.error is None and r.acted == 2
    assert _folder(dovecot, user, "INBOX") == {2: ("Minha nota", {b"\\Deleted"}),
                                               3: ("Pedido", set())}


def test_a_refused_post_action_is_recorded_retried_and_never_blocks_intake(dovecot, tmp_path):
    user = "refused"
    dovecot.add_user(user)
    target = dovecot.maildir(user, "Processadas")
    for sub in ("cur", "new", "tmp"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    if os.getuid() != 0:
        pytest.skip("needs root: the folder must be unwritable for Dovecot's mail user")
    for sub in ("cur", "new", "tmp"):  # root's, read-only: the server's MOVE into it fails
        os.chmod(target / sub, 0o500)
    c = imap(dovecot, user)
    for i in range(3):
        c.append("INBOX", message(i))
    c.logout()
    w = _watcher(tmp_path, mailbox_toml(dovecot, user, after="move:Processadas"))
    [r] = w.poll_due(force=True)
    assert r.error is None and r.stored == 3 and r.action_failures == 3 and r.acted == 0
    [row] = status_rows(w.config, w.engine)
    assert row["actions_failed"] == 3 and "move:Processadas" in row["action_error"]
    assert row["last_error"] is None and row["cursor"]["last_uid"] == 3

    c = imap(dovecot, user)  # new mail comes while the action keeps failing
    c.append("INBOX", message(10))
    c.logout()
    [r] = w.poll_due(force=True)
    assert r.error is None and r.stored == 1 and r.action_failures == 1
    assert len(_folder(dovecot, user, "INBOX")) == 4  # nothing moved, nothing lost

    for sub in ("cur", "new", "tmp"):
        os.chmod(target / sub, 0o700)
    dovecot._chown(target)  # the folder is the mail user's again
    with Session(w.engine) as s:  # the backoff has passed
        s.execute(update(Message).values(action_retry_at=utcnow() - timedelta(seconds=1))
                  .where(Message.action_retry_at.is_not(None)))
        s.commit()
    [r] = w.poll_due(force=True)
    assert r.error is None and r.acted == 4 and r.action_failures == 0
    assert _folder(dovecot, user, "INBOX") == {}
    assert len(_folder(dovecot, user, "Processadas")) == 4
    [row] = status_rows(w.config, w.engine)
    assert row["actions_failed"] == 0 and row["action_error"] is None
    with Session(w.engine) as s:
        assert len(s.exec(select(Message)).all()) == 4


@pytest.mark.parametrize(("name", "personal", "expected"), [
    ("Processadas", [("", "/")], "Processadas"),  # Dovecot, Gmail
    ("Processadas", [("", ".")], "Processadas"),  # Dovecot with Maildir++ names
    ("Processadas", [("INBOX.", ".")], "INBOX.Processadas"),  # Cyrus, Courier
    ("Faturas/2026", [("INBOX.", ".")], "INBOX.Faturas.2026"),
    ("INBOX.Processadas", [("INBOX.", ".")], "INBOX.Processadas"),  # already spelled out
    ("inbox.Processadas", [("INBOX.", ".")], "inbox.Processadas"),  # INBOX in any case
    ("Faturas/2026", [("", "/")], "Faturas/2026"),
    ("Processadas", None, "Processadas"),  # no NAMESPACE: as configured
])
def test_move_targets_follow_the_personal_namespace(name, personal, expected):
    from pipeline.mail.imap import resolve_folder

    assert resolve_folder(name, personal) == expected
