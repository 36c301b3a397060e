"""Several daemons on one PostgreSQL cluster: folders and messages shared, nothing done twice."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from pipeline.mail.leases import Leases, new_owner, singleton
from storage import Message, open_store
from storage.mailbox_models import MailboxCursor, MessageLease

from harness.daemon import count_rows, start_daemon, stop, wait_for
from harness.dovecot import imap, mailbox_toml, message, write_config
from harness.pgcluster import fresh_database


@pytest.fixture
def pg_db(postgres_url: str) -> str:
    """A fresh database of its own on the session's PostgreSQL cluster."""
    return fresh_database(postgres_url, "scale")


def test_leases_never_hand_a_folder_to_two_daemons(pg_db):
    engine = open_store(pg_db)
    a, b = Leases(engine, "host:1:a"), Leases(engine, "host:2:b")
    a.ensure_cursors([(f"box{i}", "INBOX") for i in range(40)])
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def claim(leases: Leases) -> None:
        barrier.wait()
        got[leases.owner] = [c.id for c in leases.claim_cursors(
            [f"box{i}" for i in range(40)], limit=30)]

    threads = [threading.Thread(target=claim, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(got[a.owner]) & set(got[b.owner])
    assert len(got[a.owner]) + len(got[b.owner]) == 40


def test_report_jobs_run_under_an_advisory_lock(pg_db):
    engine = open_store(pg_db)
    with singleton(engine, "confere:alerts") as first:
        with singleton(engine, "confere:alerts") as second:
            assert first and not second
        with singleton(engine, "confere:reports") as other:
            assert other
    with singleton(engine, "confere:alerts") as again:
        assert again


@pytest.mark.slow
def test_three_daemons_twenty_mailboxes_nothing_processed_twice(dovecot, tmp_path, pg_db):
    users = [dovecot.add_user(f"scale{i:02d}") for i in range(20)]
    for n, user in enumerate(users):
        c = imap(dovecot, user)
        for i in range(5):
            c.append("INBOX", message(n * 1000 + i))
        c.logout()
    boxes = "".join(mailbox_toml(dovecot, u, every="1s") for u in users)
    cfg = write_config(tmp_path, boxes, db=pg_db, daemon='process_every = "1s"')
    open_store(pg_db)  # migrate once, before the daemons race to it
    logs = [tmp_path / f"daemon{i}.log" for i in range(3)]
    procs = [start_daemon(cfg, log) for log in logs]
    engine = create_engine(pg_db)
    try:
        for proc, log in zip(procs, logs, strict=True):  # all three up and handling signals
            wait_for(lambda log=log: " watching " in log.read_text(), proc=proc, log=log)
        wait_for(lambda: count_rows(engine, Message) >= 50, timeout=120, proc=procs[0], log=logs[0])
        for n, user in enumerate(users):  # more mail while they run
            c = imap(dovecot, user)
            for i in range(5, 10):
                c.append("INBOX", message(n * 1000 + i))
            c.logout()
        wait_for(lambda: count_rows(engine, Message) == 200
                 and count_rows(engine, Message, Message.status == "pending") == 0,
                 timeout=180, proc=procs[0], log=logs[0])
    finally:
        codes = [stop(p) for p in procs]
    assert codes == [0, 0, 0], [log.read_text()[-2000:] for log in logs]
    with Session(engine) as s:
        rows = s.exec(select(Message)).all()
        leases = s.exec(select(MessageLease)).all()
        cursors = s.exec(select(MailboxCursor)).all()
    assert len({(m.mailbox, m.uid) for m in rows}) == 200
    assert {m.status for m in rows} == {"ignored"}
    assert len(leases) == 200 and all(ml.attempts == 1 for ml in leases)
    assert all(c.last_uid == 10 for c in cursors) and len(cursors) == 20
    by_daemon = Counter(ml.owner for ml in leases)
    print(f"\nmessages processed per daemon: {sorted(by_daemon.values())}")


def test_a_dead_daemons_folders_are_freed_a_live_ones_kept(tmp_path):
    """After a kill -9 the next daemon frees the dead one's folders at once, also while the
    dead process is a zombie its parent has not reaped; a running daemon's stay held."""
    engine = open_store(f"sqlite:///{tmp_path / 'confere.db'}")
    host = socket.gethostname()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie
    try:
        os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)  # exited, left unreaped
        owners = {"live": f"{host}:{live.pid}:aaaaaa", "dead": f"{host}:{dead.pid}:bbbbbb"}
        for name, owner in owners.items():
            held = Leases(engine, owner)
            held.ensure_cursors([(name, "INBOX")])
            assert [c.mailbox for c in held.claim_cursors([name], force=True)] == [name]
        assert Leases(engine, new_owner()).release_dead_local() == 1
        with Session(engine) as s:
            holders = {c.mailbox: c.lease_owner for c in s.exec(select(MailboxCursor)).all()}
        assert holders == {"live": owners["live"], "dead": None}
    finally:
        live.kill()
        live.wait()
        dead.wait()
