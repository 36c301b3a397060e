"""The daemon as a user runs it: `confere run` in a subprocess, SIGTERM, SIGKILL, SQLite's rule."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from storage import Invoice, Message
from storage.mailbox_models import MailboxCursor

from conftest import ROOT, run_cli
from harness.daemon import count_rows, start_daemon, stop, wait_for
from harness.dovecot import imap, mailbox_toml, message, write_config

FIXTURE = ROOT / "fixtures" / "mailbox"


def _engine(tmp_path: Path):
    return create_engine(f"sqlite:///{tmp_path / 'confere.db'}")


# slow: a daemon subprocess polling a real Dovecot; the fast subset runs the daemon's jobs
# in-process (tests/live/test_daemon_jobs.py).
@pytest.mark.slow
def test_daemon_ingests_a_new_bill_within_one_interval(dovecot, tmp_path):
    user = dovecot.add_user("daemonbill")
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user, every="2s"))
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log)
    try:
        engine = _engine(tmp_path)
        wait_for(lambda: count_rows(engine, MailboxCursor, MailboxCursor.uidnext.is_not(None)) == 1,
                 proc=proc, log=log)
        c = imap(dovecot, user)
        c.append("INBOX", (FIXTURE / "genuine-02-abrasf-namespaced.eml").read_bytes())
        c.logout()
        wait_for(lambda: count_rows(engine, Invoice) == 1, proc=proc, log=log)
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()
    assert "stopped cleanly" in log.read_text()
    rows = [json.loads(line) for line in
            run_cli("status", "--config", str(cfg), "--json").stdout.splitlines()]
    assert rows[0]["mailbox"] == user and rows[0]["cursor"]["last_uid"] == 1
    assert rows[0]["backlog"] == 0 and rows[0]["stored"] == 1 and rows[0]["held_by"] is None
    assert "daemonbill" in run_cli("status", "--config", str(cfg)).stdout


@pytest.mark.slow
def test_second_daemon_on_sqlite_refuses(dovecot, tmp_path):
    user = dovecot.add_user("sqliteone")
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user))
    log = tmp_path / "daemon.log"
    proc = start_daemon(cfg, log)
    try:
        wait_for(lambda: (tmp_path / "confere.db.daemon.lock").exists()
                 and "watching" in log.read_text(), proc=proc, log=log)
        second = run_cli("run", "--config", str(cfg), check=False)
        assert second.returncode != 0
        assert "SQLite allows one daemon" in " ".join(second.stderr.split())
        assert run_cli("poll", "--config", str(cfg), check=False).returncode != 0
    finally:
        assert stop(proc) == 0
    assert run_cli("poll", "--config", str(cfg)).returncode == 0  # free again


def test_run_without_mailboxes_says_so(demo_config):
    proc = run_cli("run", "--config", str(demo_config), check=False)
    assert proc.returncode != 0 and "no [[mailboxes]]" in " ".join(proc.stderr.split())


@pytest.mark.slow
def test_sigkill_at_random_points_stores_every_message_once(dovecot, tmp_path):
    user = dovecot.add_user("sigkill")
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user, every="1s"),
                       daemon='process_every = "1s"')
    log = tmp_path / "daemon.log"
    rng = random.Random(20261123)
    c = imap(dovecot, user)
    for round_ in range(10):
        for i in range(30):
            c.append("INBOX", message(round_ * 100 + i, size=rng.choice([0, 2000, 20000])))
        proc = start_daemon(cfg, log)
        time.sleep(rng.uniform(1.0, 4.5))  # start-up takes ~2 s: some die before polling
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    engine = _engine(tmp_path)
    done = lambda: count_rows(engine, Message) == 300 and \
        count_rows(engine, Message, Message.status == "pending") == 0  # noqa: E731
    started = log.read_text().count(" watching ")
    proc = start_daemon(cfg, log)
    try:  # up and handling signals, then done (the last killed one may have finished already)
        wait_for(lambda: log.read_text().count(" watching ") > started, proc=proc, log=log)
        wait_for(done, timeout=180, proc=proc, log=log)
    finally:
        assert stop(proc) == 0
    with Session(engine) as s:
        rows = s.exec(select(Message)).all()
        cursor = s.exec(select(MailboxCursor)).one()
    assert sorted(m.uid for m in rows) == list(range(1, 301))
    assert {m.status for m in rows} == {"ignored"}
    assert cursor.last_uid == cursor.acted_uid == 300
    c.select_folder("INBOX")
    flags = c.fetch(c.search("ALL"), ["FLAGS"])
    assert all(b"\\Seen" in d[b"FLAGS"] for d in flags.values())
    c.logout()
