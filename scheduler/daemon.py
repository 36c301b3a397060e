"""The daemon: APScheduler decides when; pipeline.mail.watcher what. Clean exit on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from parsers.errors import ConfereError
from pipeline.checks.issuer import verify_pending
from pipeline.config.settings import Config, parse_interval
from pipeline.ingest.faults import describe, is_transient
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.health import Health
from pipeline.mail.leases import singleton, sqlite_daemon_lock
from pipeline.mail.watcher import Watcher
from pipeline.notify.delivery import run_alerts

log = logging.getLogger("confere.daemon")

TICK = 1.0  # seconds between looks for due folders: cheap (one indexed query)
HOUSEKEEPING = 60.0


def _alerts(config: Config, engine: Engine) -> None:
    """Evaluate the time rules (due, missing, over, declaration, forecast) and deliver."""
    if not config.settings.alerts.to:
        return
    try:
        report = run_alerts(engine, config)
    except ConfereError as exc:  # e.g. the SMTP password variable is not set: say so, go on
        log.error("alerts not delivered: %s", exc)
        return
    if report.sent or report.failed or report.gave_up:
        log.info("alerts: %d sent, %d failed, %d given up", len(report.sent),
                 len(report.failed), len(report.gave_up))


def _issuers(config: Config, engine: Engine) -> None:
    """Ask the issuers again about bills whose look-up is due (unknown, or newly possible)."""
    asked = verify_pending(engine, config)
    if asked:
        log.info("issuer look-ups re-run for %d bill(s)", len(asked))


# Report, alert and issuer jobs: each runs in one daemon at a time (PostgreSQL advisory lock).
SINGLETON_JOBS: list[tuple[str, Callable[[Config, Engine], None]]] = [
    ("issuers", _issuers),
    ("alerts", _alerts),
]


class Daemon:
    """Runs the mail tick and the housekeeping jobs until told to stop."""

    def __init__(self, config: Config, engine: Engine, sandbox: Sandbox,
                 stop: threading.Event | None = None) -> None:
        self.config = config
        self.engine = engine
        self.stop = stop or threading.Event()
        self.watcher = Watcher(config, engine, sandbox, stop=self.stop)
        self.health = Health(config.blob_dir, self.watcher.owner)
        daemon = config.settings.daemon
        self.process_every = parse_interval(daemon.process_every)
        self.grace = int(parse_interval(daemon.misfire_grace))
        self._last_process = 0.0
        self.caught_up = threading.Event()  # set once the first poll's mail was processed
        # One run of a singleton job at a time in this process as well: the mail tick may run
        # the alerts while the housekeeping does (and SQLite's lock is this process's own).
        self._running = {name: threading.Lock() for name, _job in SINGLETON_JOBS}

    def mail_tick(self) -> None:
        """Poll the folders that are due; process pending mail when new mail came or on time.

        What went wrong is kept in the health file too, which `confere status` reads when the
        database cannot tell (locked, down, read-only).

        The tick that completes the first catch-up runs the alerts held back for it at once,
        not at the next housekeeping (up to a minute later)."""
        first_catch_up = False
        try:
            # New mail is judged as it is stored; pending mail at least every process_every.
            due = time.monotonic() - self._last_process >= self.process_every
            reports, results = self.watcher.poll_and_process(process_anyway=due)
            if results is not None:
                self._last_process = time.monotonic()
                for r in results:
                    log.info("message #%s: %s%s", r.message_id, r.status,
                             f" ({r.reason})" if r.reason else "")
                first_catch_up = not self.caught_up.is_set()
                self.caught_up.set()
        except Exception as exc:
            if is_transient(exc):
                log.warning("mail tick failed (%s); retried next tick", describe(exc))
            else:
                log.exception("mail tick failed; retried next tick")
            self.health.failed(exc, self.config.database_url)
            self.watcher.db_errors.clear()
            return
        db_errors, self.watcher.db_errors = self.watcher.db_errors, []
        if db_errors:
            self.health.failed(db_errors[-1], self.config.database_url)
        elif any(not r.error for r in reports):
            self.health.good()
        if first_catch_up and not self.stop.is_set():
            # Run here, not by rescheduling the housekeeping: a job that calls into the
            # scheduler deadlocks with a shutdown waiting for it (Ctrl-C during the catch-up).
            self._singleton("alerts", dict(SINGLETON_JOBS)["alerts"])
            log.info("first catch-up done; alerts checked")

    def housekeeping(self) -> None:
        """Free leases of dead local daemons; run report and alert jobs under a lock."""
        try:
            self.watcher.leases.release_dead_local()
        except Exception:
            log.exception("freeing dead leases failed; retried next time")
        for name, job in SINGLETON_JOBS:
            if name == "alerts" and not self.caught_up.is_set():
                continue  # the calendar rules wait for the mail already in the mailbox
            self._singleton(name, job)

    def _singleton(self, name: str, job: Callable[[Config, Engine], None]) -> None:
        """Run `job` unless another daemon, or another thread of this one, is running it."""
        running = self._running.setdefault(name, threading.Lock())
        if not running.acquire(blocking=False):
            return  # this daemon runs it right now, begun after anything this run would see
        try:
            with singleton(self.engine, f"confere:{name}") as mine:
                if mine and not self.stop.is_set():
                    job(self.config, self.engine)
        except Exception:  # one job's failure must not starve the others
            log.exception("%s job failed; retried next time", name)
        finally:
            running.release()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the message in hand (a download ends at a message "
                 "boundary), giving back every claim, then exiting", signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> int:
        """Start, wait for SIGTERM / SIGINT, stop cleanly; returns the exit code."""
        lock = sqlite_daemon_lock(self.engine)
        try:
            self.watcher.prepare()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, self._on_signal)
                signal.signal(signal.SIGINT, self._on_signal)
            sched = BackgroundScheduler(
                timezone=UTC, executors={"default": ThreadPoolExecutor(2)},
                job_defaults={"coalesce": True, "max_instances": 1,
                              "misfire_grace_time": self.grace})
            now = datetime.now(UTC)
            sched.add_job(self.mail_tick, "interval", seconds=TICK, id="mail",
                          next_run_time=now)
            sched.add_job(self.housekeeping, "interval", seconds=HOUSEKEEPING,
                          id="housekeeping", next_run_time=now)
            sched.start()
            names = ", ".join(self.watcher.mailboxes) or "no mailboxes"
            log.info("confere daemon %s watching %s", self.watcher.owner, names)
            while not self.stop.wait(0.5):
                pass
            sched.shutdown(wait=True)
            try:
                self.watcher.leases.release_all()
            except Exception as exc:  # the store is down: the leases expire on their own
                log.warning("could not give back the folders' leases: %s", describe(exc))
            log.info("confere daemon stopped cleanly")
            return 0
        finally:
            if lock is not None:
                lock.close()
