"""Faults around a running daemon: each one is seen in `confere status` (or the outbox, or the
bill's checks), the daemon keeps running, and afterwards every message is stored exactly once.

Every test runs `confere run` as a real subprocess against real servers on 127.0.0.1: Dovecot
(killed mid-fetch), PostgreSQL (restarted mid-transaction), SMTP (down), the ISSNet stand-in
(hanging) and a 1 MB tmpfs under the blob store (disk full). SQLite locked by another writer is
in test_stop_and_health.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from storage import Invoice, Message
from storage.alert_models import Alert
from storage.mailbox_models import MailboxCursor
from storage.verification_models import Verification

from conftest import ROOT, json_lines, run_cli
from harness.dovecot import dovecot_server, imap, mailbox_toml, message, write_config

GENUINE = ROOT / "fixtures" / "mailbox" / "genuine-01-abrasf-bare.eml"
FAST_DAEMON = 'process_every = "1s"\nlease = "15s"'
CAUGHT_UP = "first catch-up done; alerts checked"  # the daemon's log, once the alerts ran


def start_daemon(config: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`confere run --config FILE` as a subprocess, its log in a file."""
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-c", "from pipeline.cli.main import run; run()", "run", "--config",
             str(config)], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def wait_for(what: Callable[[], bool], proc: subprocess.Popen, log: Path,
             timeout: float = 90) -> None:
    """Wait until `what()` holds while the daemon stays up (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not what():
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; daemon log:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


@contextmanager
def daemon(config: Path, log: Path, env: dict[str, str] | None = None
           ) -> Iterator[subprocess.Popen]:
    """A running daemon, up and handling signals; SIGTERM at the end must exit 0."""
    before = log.read_text().count(" watching ") if log.exists() else 0
    proc = start_daemon(config, log, env)
    try:
        wait_for(lambda: log.read_text().count(" watching ") > before, proc, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == 0, log.read_text()[-4000:]


def count(engine: Engine, model: type, *where: object) -> int:
    """Rows of a table (0 while the store is unreachable or not yet created)."""
    try:
        with Session(engine) as s:
            return s.exec(select(func.count()).select_from(model).where(*where)).one()
    except Exception:
        return 0


def status(config: Path, env: dict[str, str] | None = None) -> list[dict]:
    """`confere status --json` rows."""
    return json_lines(run_cli("status", "--config", str(config), "--json", env=env).stdout)


def assert_each_once(engine: Engine, n: int, judged: bool = True) -> None:
    """UIDs 1..n stored once each (and all judged, unless told they may still be pending)."""
    with Session(engine) as s:
        rows = s.exec(select(Message)).all()
    assert sorted(m.uid for m in rows) == list(range(1, n + 1))
    assert len({m.sha256 for m in rows}) == n
    assert {m.status for m in rows} <= ({"ignored"} if judged else {"ignored", "pending"})


def seed(server, user: str, n: int, size: int) -> None:
    """n vendor notices of about `size` bytes each, straight into the maildir."""
    server.add_user(user)
    server.seed(user, [message(i, size=size) for i in range(n)])


def kill_dovecot(server) -> None:
    """SIGKILL the Dovecot master and every process under it (its imap sessions too)."""
    server.kill()


@pytest.mark.slow
def test_imap_server_killed_mid_fetch(tmp_path):
    n = 1200
    with dovecot_server() as server:
        seed(server, "killed", n, 30_000)  # 36 MB: two FETCH commands of at most 32 MB
        cfg = write_config(tmp_path, mailbox_toml(server, "killed", every="1s", timeout=5),
                           daemon=FAST_DAEMON)
        engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
        log = tmp_path / "daemon.log"
        with daemon(cfg, log) as proc:
            wait_for(lambda: count(engine, Message) > 0, proc, log)
            kill_dovecot(server)
            at_kill = count(engine, Message)
            wait_for(lambda: any("connection lost" in (r["last_error"] or "")
                                 for r in status(cfg)), proc, log)
            [row] = status(cfg)
            assert row["failures"] >= 1 and row["stored"] < n, row
            server.start()
            wait_for(lambda: count(engine, Message) == n, proc, log)
            wait_for(lambda: status(cfg)[0]["failures"] == 0, proc, log)  # last_error stays
    assert at_kill < n, "the fetch finished before the kill: nothing was tested"
    assert_each_once(engine, n, judged=False)  # judging 1,200 notices is not this test's job
    with Session(engine) as s:
        cursor = s.exec(select(MailboxCursor)).one()
    assert cursor.last_uid == cursor.acted_uid == n and cursor.failures == 0


def _pg_ctl(data_dir: str, *args: str) -> None:
    from harness.pgcluster import _bindir

    as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run([*as_user, str(_bindir() / "pg_ctl"), "-D", data_dir, *args], check=True,
                   capture_output=True, timeout=60)


@pytest.mark.slow
def test_postgresql_restarted_mid_transaction(dovecot, tmp_path):
    from harness.pgcluster import postgres_cluster

    n = 600
    seed(dovecot, "pgrestart", n, 20_000)
    with postgres_cluster() as url:
        engine = create_engine(url)
        with engine.connect() as conn:
            data_dir = conn.execute(text("SHOW data_directory")).scalar_one()
            conf = conn.execute(text("SHOW config_file")).scalar_one()
        assert conf.startswith(data_dir)
        cfg = write_config(tmp_path, mailbox_toml(dovecot, "pgrestart", every="1s"), db=url,
                           daemon=FAST_DAEMON)
        log = tmp_path / "daemon.log"
        with daemon(cfg, log) as proc:
            wait_for(lambda: count(engine, Message) > 0, proc, log)
            _pg_ctl(data_dir, "-m", "immediate", "stop")  # no clean shutdown: a crash
            at_crash = count(engine, Message)
            down = run_cli("status", "--config", str(cfg), check=False)
            assert down.returncode == 2 and "database cannot be used" in down.stderr, down.stderr
            assert "Traceback" not in down.stderr
            time.sleep(3)  # the daemon meets the dead database for a few ticks
            assert proc.poll() is None
            # restart with the options of the last start (port, socket dir) from postmaster.opts
            _pg_ctl(data_dir, "-w", "-l", str(Path(data_dir).parent / "log"), "restart")
            engine.dispose()
            wait_for(lambda: count(engine, Message) == n
                     and count(engine, Message, Message.status == "pending") == 0, proc, log)
        assert "Traceback" in log.read_text() or "failed" in log.read_text()
        assert at_crash < n, "the fetch finished before the crash: nothing was tested"
        assert_each_once(engine, n)
        [row] = status(cfg)
        assert row["stored"] == n and row["backlog"] == 0 and row["held_by"] is None
        engine.dispose()


# SQLite locked by another writer: see test_stop_and_health's
# test_sqlite_locked_shows_in_status_and_clears (the log, the status and the mail after it in
# one run: each such lock costs the 30 s busy timeout).


@contextmanager
def tiny_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at path (root only), unmounted at the end."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.slow
def test_blob_store_disk_full(dovecot, tmp_path):
    n = 300
    seed(dovecot, "diskfull", n, 8_000)  # 2.4 MB of mail for a 1 MB blob store
    cfg = write_config(tmp_path, mailbox_toml(dovecot, "diskfull", every="1s"),
                       daemon=FAST_DAEMON)
    engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
    log = tmp_path / "daemon.log"
    with tiny_tmpfs(tmp_path / "blobs", "1m") as blobs:
        with daemon(cfg, log) as proc:
            wait_for(lambda: any("No space left" in (r["last_error"] or "")
                                 for r in status(cfg)), proc, log)
            [row] = status(cfg)
            assert 0 < row["stored"] < n and row["failures"] >= 1, row
            assert not (row["last_error"] or "").startswith("connection lost"), row
            subprocess.run(["mount", "-o", "remount,size=64m", str(blobs)], check=True)
            wait_for(lambda: count(engine, Message) == n
                     and count(engine, Message, Message.status == "pending") == 0, proc, log)
            wait_for(lambda: status(cfg)[0]["failures"] == 0, proc, log)  # last_error stays
        assert_each_once(engine, n)
        assert not list(blobs.rglob(".tmp-*")), "a half-written blob was left behind"


@pytest.mark.slow
def test_smtp_down_keeps_the_alert_until_it_is_back(dovecot, tmp_path):
    from harness.smtp_server import ENV, SmtpServer, free_port
    from harness.smtp_server import write_config as alerts_config

    port = free_port()  # nothing listens here yet
    cfg = alerts_config(tmp_path, port, alerts_extra="kinds = ['new']")
    dovecot.add_user("smtpdown")
    secret = tmp_path / "imap-password"
    secret.write_text("secret\n")
    cfg.write_text(cfg.read_text() + "[daemon]\n" + FAST_DAEMON + "\n"
                   + mailbox_toml(dovecot, "smtpdown").replace('password_file = ""',
                                                               f'password_file = "{secret}"'))
    run_cli("ingest", "--config", str(cfg), str(GENUINE))  # a new bill: one alert queued
    engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
    log = tmp_path / "daemon.log"
    with daemon(cfg, log, ENV) as proc:  # its first catch-up tries to deliver at once
        wait_for(lambda: count(engine, Alert, Alert.attempts >= 1) == 1, proc, log)
        shown = run_cli("status", "--config", str(cfg), env=ENV).stdout
        assert "alerts: 1 pending" in " ".join(shown.split())
        [row] = json_lines(run_cli("alerts", "list", "--json", "--config", str(cfg)).stdout)
        assert row["status"] == "pending" and f"cannot reach 127.0.0.1:{port}" in \
            row["last_error"]
        assert proc.poll() is None
    server = SmtpServer(port).start()
    try:
        with daemon(cfg, log, ENV) as proc:
            wait_for(lambda: count(engine, Alert, Alert.status == "sent") == 1, proc, log)
        done = log.read_text().count(CAUGHT_UP)
        with daemon(cfg, log, ENV) as proc:  # a third start sends nothing again
            wait_for(lambda: log.read_text().count(CAUGHT_UP) > done, proc, log)
        [msg] = server.messages()
        assert msg["X-Confere-Alert"] == "bill:1:new"
    finally:
        server.stop()
    [row] = json_lines(run_cli("alerts", "list", "--json", "--config", str(cfg)).stdout)
    assert (row["status"], row["last_error"]) == ("sent", None)


@pytest.mark.slow
def test_issuer_hanging_does_not_hold_the_daemon(dovecot, tmp_path):
    from harness.standin import (
        P12_PASSWORD,
        PASSWORD_ENV,
        StandIn,
        State,
        authenticity_toml,
        load_fixture_notes,
        make_pki,
    )

    env = {PASSWORD_ENV: P12_PASSWORD}
    pki = make_pki(tmp_path / "pki")
    user = dovecot.add_user("issuerhang")
    with StandIn(pki, load_fixture_notes(State(mode="hang", hang_seconds=30))) as issuer:
        cfg = write_config(tmp_path, mailbox_toml(dovecot, user, every="1s"),
                           daemon=FAST_DAEMON)
        cfg.write_text(cfg.read_text().replace(
            "[daemon]", authenticity_toml(pki, issuer, timeout=1, connect_timeout=1, retries=1)
            + "[daemon]"))
        engine = create_engine(f"sqlite:///{tmp_path / 'confere.db'}")
        log = tmp_path / "daemon.log"
        with daemon(cfg, log, env) as proc:
            c = imap(dovecot, user)
            c.append("INBOX", GENUINE.read_bytes())
            c.append("INBOX", message(1))
            c.logout()
            wait_for(lambda: count(engine, Message, Message.status != "pending") == 2, proc, log)
            [inv] = json_lines(run_cli("invoices", "--json", "--config", str(cfg),
                                       env=env).stdout)
            shown = json.loads(run_cli("show", str(inv["id"]), "--json", "--config", str(cfg),
                                       env=env).stdout)
            checks = {c["name"]: c for c in shown["checks"]}
            assert checks["authenticity.issnet"]["outcome"] == "unknown"
            assert "did not answer" in checks["authenticity.issnet"]["detail"]
            assert shown["verdict"] == "review"
            assert issuer.state.requests  # it was asked, and did not hold the daemon
        issuer.state.mode = "normal"
        with daemon(cfg, log, env) as proc:  # the issuer job at start asks again
            wait_for(lambda: count(engine, Verification, Verification.outcome == "pass") == 1,
                     proc, log)
    assert count(engine, Invoice) == 1 and count(engine, Message) == 2
    assert count(engine, Verification) == 1
