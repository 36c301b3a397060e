"""Stopping mid-download on a slow link, and health that `confere status --json` shows: each
runs `confere run` as a real subprocess against a real Dovecot on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select
from test_faults import FAST_DAEMON, count, daemon, start_daemon, status, wait_for

from storage import Message, utcnow
from storage.mailbox_models import MailboxCursor, MessageLease

from conftest import run_cli
from harness.dovecot import DroppingProxy, imap, mailbox_toml, message, write_config

SERVICE = Path(__file__).resolve().parents[2] / "scheduler" / "confere.service"


def _own_mail(server, user: str) -> None:
    """The user's own message, flagged \\Deleted by the user: confere must leave it be."""
    c = imap(server, user)
    c.append("INBOX", message(999, sender="amiga@pessoal.com.br", subject="Minha nota"),
             flags=[b"\\Deleted"])
    c.logout()


def _inbox(server, user: str) -> dict[str, set[bytes]]:
    c = imap(server, user)
    try:
        c.select_folder("INBOX", readonly=True)
        data = c.fetch(c.search("ALL"), ["ENVELOPE", "FLAGS"])
        return {d[b"ENVELOPE"].subject.decode(): set(d[b"FLAGS"]) - {b"\\Recent"}
                for d in data.values()}
    finally:
        c.logout()


@pytest.mark.slow
def test_sigterm_mid_download_on_a_slow_link(dovecot, tmp_path):
    n = 40
    user = dovecot.add_user("slowlink")
    dovecot.seed(user, [message(i, size=100_000) for i in range(n)])  # 4 MB
    _own_mail(dovecot, user)
    proxy = DroppingProxy(dovecot, rate=400_000)  # 10 s for the lot
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user, port=proxy.port, after="flag"),
                       daemon=FAST_DAEMON)
    engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
    log = tmp_path / "daemon.log"
    try:
        proc = start_daemon(cfg, log)
        wait_for(lambda: count(engine, Message) > 0, proc, log)
        proc.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        code = proc.wait(timeout=60)
        took = time.monotonic() - asked
        assert code == 0, log.read_text()[-3000:]
        kept = count(engine, Message)
        print(f"\nSIGTERM mid-download: exited in {took:.1f} s with {kept}/{n} stored")
        assert took < 8, f"took {took:.1f} s to stop"
        assert 0 < kept < n, "the download was over before the stop: nothing was tested"
        with Session(engine) as s:  # every claim given back, no attempt counted
            now = utcnow()
            leases = s.exec(select(MessageLease)).all()
            assert all(ml.lease_until <= now for ml in leases)
            pending = {m.id for m in s.exec(select(Message).where(Message.status == "pending"))}
            assert all(ml.attempts == 0 for ml in leases if ml.message_id in pending)
            cursor = s.exec(select(MailboxCursor)).one()
            assert cursor.lease_owner is None and cursor.last_uid >= kept
        [row] = status(cfg)
        assert row["held_by"] is None and row["last_error"] is None
        assert row["unfetched"] == n + 1 - cursor.last_uid  # the rest waits on the server

        with daemon(cfg, log) as proc:  # the next start takes up where the stop left off
            wait_for(lambda: count(engine, Message) == n
                     and count(engine, Message, Message.status == "pending") == 0, proc, log)
            wait_for(lambda: status(cfg)[0]["unfetched"] == 0, proc, log)
    finally:
        proxy.close()
    with Session(engine) as s:
        rows = s.exec(select(Message)).all()
    assert sorted(m.uid for m in rows) == list(range(1, n + 1))  # nothing lost, none twice
    inbox = _inbox(dovecot, user)
    assert inbox.pop("Minha nota") == {b"\\Deleted"}  # the user's own mail, untouched
    assert len(inbox) == n and all(b"\\Seen" in f for f in inbox.values())


def test_the_service_unit_waits_longer_than_a_stop_takes():
    from pipeline.config.settings import DaemonConfig, LimitsConfig
    from pipeline.mail.imap import FETCH_SECONDS, STOP_GRACE

    unit = dict(line.split("=", 1) for line in SERVICE.read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    timeout = float(unit["TimeoutStopSec"])
    # a download ends within the grace; the message in hand gets its whole parse allowance
    needed = max(STOP_GRACE, FETCH_SECONDS) + LimitsConfig().parse_seconds + 15
    assert needed <= timeout <= 2 * needed, (needed, timeout)
    assert DaemonConfig()  # defaults load


@pytest.mark.slow
def test_sqlite_locked_shows_in_status_and_clears(dovecot, tmp_path):
    """Another writer holds the SQLite store past the busy timeout: the daemon says so in its
    log and in `confere status` (WAL: readers still read), keeps running, and once the lock is
    gone stores the mail that came meanwhile and after it, each once. (One test for the log,
    the status and the mail: each such lock costs the busy timeout, 30 s.)"""
    import sqlite3

    user = dovecot.add_user("lockedhealth")
    _own_mail(dovecot, user)
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user, every="1s"), daemon=FAST_DAEMON)
    engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
    log = tmp_path / "daemon.log"
    with daemon(cfg, log) as proc:
        wait_for(lambda: (status(cfg)[0]["daemon_last_good_poll_at"] or "") != "", proc, log)
        c = imap(dovecot, user)
        for i in range(10):
            c.append("INBOX", message(i))
        lock = sqlite3.connect(tmp_path / "confere.db", timeout=1, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            wait_for(lambda: "locked" in (status(cfg)[0]["database_error"] or ""), proc, log,
                     timeout=150)
            wait_for(lambda: "database is locked" in log.read_text(), proc, log)
            [row] = status(cfg)
            assert "locked by another process" in row["last_error"], row
            assert row["last_error_at"] and row["stored"] == 0
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        for i in range(10, 20):  # and more mail once the lock is gone
            c.append("INBOX", message(i))
        c.logout()
        wait_for(lambda: count(engine, Message) == 20
                 and count(engine, Message, Message.status == "pending") == 0, proc, log)
        wait_for(lambda: status(cfg)[0]["database_error"] is None, proc, log)
        [row] = status(cfg)
        assert row["last_error"] is None and row["backlog"] == 0 and row["unfetched"] == 0
    assert "Minha nota" in _inbox(dovecot, user)
    with Session(engine) as s:
        rows = s.exec(select(Message)).all()
    assert len({m.sha256 for m in rows}) == len({m.uid for m in rows}) == len(rows) == 20
    assert {m.status for m in rows} == {"ignored"}


@pytest.mark.slow
def test_a_read_only_database_says_so(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    cfg = write_config(tmp_path, "", db=f"sqlite:///{store / 'confere.db'}")
    run_cli("status", "--config", str(cfg))  # creates and migrates the store
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(store)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    try:
        run_cli("status", "--config", str(cfg))  # a fresh store on the tmpfs
        subprocess.run(["mount", "-o", "remount,ro", str(store)], check=True)
        for f in store.iterdir():
            assert not os.access(f, os.W_OK) or os.getuid() == 0
        shown = run_cli("status", "--config", str(cfg), "--json", check=False)
        assert shown.returncode == 2
        assert "read-only" in shown.stderr and "unable to open" not in shown.stderr.split(
            "(")[0], shown.stderr
        ran = run_cli("poll", "--config", str(cfg), check=False)
        assert ran.returncode == 2 and "read-only" in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr + shown.stderr
    finally:
        subprocess.run(["umount", "-l", str(store)], capture_output=True)


def _status_rows(cfg: Path) -> tuple[int, list[dict]]:
    """`confere status --json`: exit code and rows (also when the database is down)."""
    from conftest import json_lines

    done = run_cli("status", "--config", str(cfg), "--json", check=False)
    return done.returncode, json_lines(done.stdout)


@pytest.mark.slow
def test_postgresql_stopped_and_started_shows_and_clears(dovecot, tmp_path):
    from sqlalchemy import text
    from test_faults import _pg_ctl

    from harness.pgcluster import postgres_cluster

    user = dovecot.add_user("pghealth")
    _own_mail(dovecot, user)
    dovecot.seed(user, [message(i) for i in range(20)])
    with postgres_cluster() as url:
        engine = create_engine(url)
        with engine.connect() as conn:
            data_dir = conn.execute(text("SHOW data_directory")).scalar_one()
        cfg = write_config(tmp_path, mailbox_toml(dovecot, user, every="1s"), db=url,
                           daemon=FAST_DAEMON)
        log = tmp_path / "daemon.log"
        with daemon(cfg, log) as proc:
            wait_for(lambda: count(engine, Message, Message.status != "pending") == 20,
                     proc, log)
            _pg_ctl(data_dir, "-m", "fast", "stop")
            c = imap(dovecot, user)
            for i in range(20, 30):
                c.append("INBOX", message(i))
            c.logout()
            code, rows = _status_rows(cfg)
            assert code == 2 and rows[0]["database_error"], rows
            assert rows[0]["last_error"] == rows[0]["database_error"]
            wait_for(lambda: _status_rows(cfg)[1][0]["daemon_error"] is not None, proc, log)
            assert proc.poll() is None
            # restart: starts the stopped server with its last options (port, socket dir)
            _pg_ctl(data_dir, "-w", "-l", str(Path(data_dir).parent / "log"), "restart")
            engine.dispose()
            wait_for(lambda: count(engine, Message) == 30
                     and count(engine, Message, Message.status == "pending") == 0, proc, log)
            wait_for(lambda: _status_rows(cfg)[1][0]["database_error"] is None, proc, log)
            code, [row] = _status_rows(cfg)
            assert code == 0 and row["last_error"] is None and row["daemon_error"] is None
            assert row["stored"] == 30 and row["backlog"] == 0 and row["unfetched"] == 0
        with Session(engine) as s:
            rows = s.exec(select(Message)).all()
        engine.dispose()
    assert len({m.sha256 for m in rows}) == len(rows) == 30
    inbox = _inbox(dovecot, user)
    assert inbox.pop("Minha nota") == {b"\\Deleted"} and len(inbox) == 30


@pytest.mark.slow
def test_disk_full_while_judging_a_bill_keeps_it_pending_then_judges_it(dovecot, tmp_path):
    from test_transient_faults import GENUINE, nearly_full

    user = dovecot.add_user("diskbill")
    _own_mail(dovecot, user)
    cfg = write_config(tmp_path, mailbox_toml(dovecot, user, every="1s"), daemon=FAST_DAEMON)
    engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
    log = tmp_path / "daemon.log"
    room = -(-GENUINE.stat().st_size // 4096) * 4096 + 8192  # the raw bill fits, no more
    with nearly_full(tmp_path / "blobs", room) as filler, daemon(cfg, log) as proc:
        c = imap(dovecot, user)
        c.append("INBOX", GENUINE.read_bytes())
        c.logout()
        wait_for(lambda: (status(cfg)[0]["retry_error"] or "").find("No space") >= 0,
                 proc, log)
        [row] = status(cfg)
        assert row["backlog"] == 1 and row["retrying"] == 1, row
        assert count(engine, Message, Message.status == "quarantined") == 0
        filler.unlink()
        wait_for(lambda: count(engine, Message, Message.status == "invoice") == 1, proc, log)
        [row] = status(cfg)
        assert row["backlog"] == 0 and row["retry_error"] is None and row["last_error"] is None
    assert count(engine, Message) == 1
    inbox = _inbox(dovecot, user)
    assert inbox.pop("Minha nota") == {b"\\Deleted"} and len(inbox) == 1


@pytest.mark.slow
def test_a_stop_gives_back_every_claim_handed_to_the_parser_or_not(tmp_path):
    import threading

    from pipeline.config import settings as config_mod
    from pipeline.ingest.sandbox import Sandbox
    from pipeline.mail.watcher import Watcher
    from storage import open_store

    from harness.sandbox_work import slow_parse

    config = config_mod.load(write_config(tmp_path, ""))
    engine = open_store(config.database_url)
    stop = threading.Event()
    with Sandbox(workers=2, work=slow_parse) as sandbox:
        w = Watcher(config, engine, sandbox, stop=stop)
        for i in range(60):
            w.ingestor.store_raw(message(i), source="file", path=f"m{i}.eml")
        worker = threading.Thread(target=w.process_pending)
        worker.start()
        deadline = time.monotonic() + 60
        while count(engine, Message, Message.status != "pending") < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with Session(engine) as s:  # claims in hand: a batch, some in the parser's workers
            held = len(s.exec(select(MessageLease).where(MessageLease.lease_until > utcnow()))
                       .all())
        stop.set()
        worker.join(timeout=30)
        assert not worker.is_alive()
    judged = count(engine, Message, Message.status != "pending")
    assert 3 <= judged < 60 and held > 10
    with Session(engine) as s:
        now = utcnow()
        leases = s.exec(select(MessageLease)).all()
        pending = {m.id for m in s.exec(select(Message).where(Message.status == "pending"))}
    assert not [ml for ml in leases if ml.lease_until > now]  # nothing held after the stop
    assert all(ml.attempts == 0 for ml in leases if ml.message_id in pending)
    assert len(pending) == 60 - judged
