"""What a daemon's tick does: poll due folders and process pending mail, each under a lease."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from parsers.errors import LeaseLost
from pipeline.config.settings import Config, MailboxConfig, parse_interval
from pipeline.ingest.faults import describe, is_transient
from pipeline.ingest.ingestor import Ingestor, Result
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.cursors import FolderReport, FolderState
from pipeline.mail.leases import Leases, new_owner
from pipeline.mail.sources import Source, make_source
from storage import BlobStore, Message, utcnow
from storage.mailbox_models import MailboxCursor, MessageLease

log = logging.getLogger("confere.watch")


class Watcher:
    """One daemon's work: folders polled and messages processed, never twice across daemons."""

    def __init__(self, config: Config, engine: Engine, sandbox: Sandbox,
                 owner: str | None = None, stop: threading.Event | None = None) -> None:
        self.config = config
        self.engine = engine
        self.owner = owner or new_owner()
        self.stop = stop or threading.Event()
        daemon = config.settings.daemon
        self.lease_seconds = parse_interval(daemon.lease)
        self.max_attempts = daemon.retries + 1
        self.leases = Leases(engine, self.owner, self.lease_seconds)
        self.blobs = BlobStore(config.blob_dir)
        self.ingestor = Ingestor(config, engine, sandbox)
        self.mailboxes: dict[str, MailboxConfig] = {m.name: m for m in config.settings.mailboxes}
        self.db_errors: list[DBAPIError] = []  # met since the daemon last looked
        self._arrived = threading.Event()  # set when a poll begins storing new mail

    def prepare(self) -> None:
        """Free what dead local daemons held and create the cursors of configured folders."""
        freed = self.leases.release_dead_local()
        if freed:
            log.info("released %d leases of daemons that died on this host", freed)
        pairs = []
        for cfg in self.mailboxes.values():
            pairs += [(cfg.name, f) for f in make_source(self.config, cfg).folders()]
        self.leases.ensure_cursors(pairs)

    # -- polling -------------------------------------------------------------------------
    def poll_due(self, force: bool = False, limit: int = 10) -> list[FolderReport]:
        """Poll folders that are due (or all of them, with force) that no one else holds."""
        claimed = self.leases.claim_cursors(self.mailboxes, limit=10_000 if force else limit,
                                            force=force)
        by_box: dict[str, list[MailboxCursor]] = defaultdict(list)
        for cur in claimed:
            by_box[cur.mailbox].append(cur)
        reports: list[FolderReport] = []
        for name, cursors in by_box.items():
            cfg = self.mailboxes[name]
            every = parse_interval(cfg.every)
            source: Source = make_source(self.config, cfg)
            try:
                for cur in cursors:
                    if self.stop.is_set():
                        self.leases.release_cursor(cur.id, 0.0, None)
                        continue
                    reports.append(self._poll_one(source, cur, every))
            finally:
                source.close()
        return reports

    def _poll_one(self, source: Source, cur: MailboxCursor, every: float) -> FolderReport:
        # New mail starts the parse workers, so they are up by the time the download ends.
        state = FolderState(self.engine, self.blobs, cur, self.owner, self.lease_seconds,
                            source="imap" if source.kind == "imap" else source.kind,
                            on_mail=self._mail_arrived)
        try:
            report = source.poll_folder(state, self.stop)
        except LeaseLost as exc:
            log.warning("%s", exc)
            return FolderReport(cur.mailbox, cur.folder, error=str(exc))
        except Exception as exc:  # a bug or a database error: recorded, retried next time
            if is_transient(exc):  # disk full, database locked or down: no traceback
                log.warning("%s/%s: poll failed: %s", cur.mailbox, cur.folder, describe(exc))
            else:
                log.exception("%s/%s: poll failed", cur.mailbox, cur.folder)
            self._note_db(exc)
            report = FolderReport(cur.mailbox, cur.folder, error=describe(exc))
        if report.error:
            log.warning("%s/%s: %s", cur.mailbox, cur.folder, report.error)
        elif report.stored:
            log.info("%s/%s: %d new message(s) stored", cur.mailbox, cur.folder, report.stored)
        self.leases.release_cursor(cur.id, every, report.error)
        return report

    def _mail_arrived(self) -> None:
        """A poll is storing new mail: the parse workers start, the judging may begin."""
        self.ingestor.sandbox.warm()
        self._arrived.set()

    def poll_and_process(self, force: bool = False, process_anyway: bool = True
                         ) -> tuple[list[FolderReport], list[Result] | None]:
        """Poll the due folders in a thread while this one judges their new mail as it is
        stored, so that a large download and its parsing overlap instead of taking turns.

        process_anyway: judge pending mail even when the poll stores none (mail left by a
        crash, or the daemon's periodic pass). The results are None when nothing was judged.
        """
        reports: list[FolderReport] = []
        failed: list[BaseException] = []
        polled = threading.Event()
        self._arrived.clear()

        def poll() -> None:
            try:
                reports.extend(self.poll_due(force=force))
            except BaseException as exc:  # raised again below, in the caller's thread
                failed.append(exc)
            finally:
                polled.set()

        thread = threading.Thread(target=poll, name="confere-poll", daemon=True)
        thread.start()
        results: list[Result] | None = None
        try:
            while not self.stop.is_set():
                finished = polled.is_set()
                if self._arrived.is_set() or (finished and process_anyway):
                    got = self.process_pending()
                    results = (results or []) + got
                    if got:
                        continue
                if finished:
                    break
                polled.wait(0.2)  # the poll has not stored the next batch yet
            if self.stop.is_set() and results is None and process_anyway:
                results = []  # told to stop: the due pass counts as done, as it did alone
        except BaseException:
            self.stop.set()  # Ctrl-C in a command: the poll stops at a message boundary too
            raise
        finally:
            thread.join()
        if failed:
            raise failed[0]
        return reports, results

    # -- processing ----------------------------------------------------------------------
    def process_pending(self, batch: int = 0, limit: int | None = None) -> list[Result]:
        """Parse and judge pending messages this daemon could claim; stops between messages.

        Claims are taken a batch at a time, only as the parse pool asks for more work (so a
        claim is judged within seconds, well within its lease, and the pool never drains
        between batches); claims that ended are closed together, a batch at a time.
        """
        batch = batch or max(32, self.ingestor.sandbox.workers * 8)
        results: list[Result] = []
        held: dict[int, None] = {}  # claimed and not yet judged, in the order they are judged
        ended: list[int] = []

        def claimed() -> Iterator[tuple[int, Message, bytes]]:
            while not self.stop.is_set():
                room = batch if limit is None else min(batch, limit - len(results) - len(held))
                ids = self.leases.claim_messages(room, self.max_attempts) if room > 0 else []
                if not ids:
                    return
                with Session(self.engine, expire_on_commit=False) as s:
                    rows = s.exec(select(Message).where(col(Message.id).in_(ids))
                                  .order_by(Message.id)).all()
                # Judged meanwhile by another daemon: nothing to do but end the claim.
                ended.extend(r.id for r in rows if r.status != "pending")  # type: ignore[misc]
                mine = [r for r in rows if r.status == "pending"]
                for r in mine:  # held from now on: a stop gives back the ones not yet judged
                    held[r.id] = None  # type: ignore[index]
                for r in mine:
                    if self.stop.is_set():
                        return
                    yield r.id, r, self._bytes(r)  # type: ignore[misc]

        gen = self.ingestor.process_many(claimed())
        try:
            for (_key, msg), result in gen:
                held.pop(msg.id, None)  # type: ignore[arg-type]
                ended.append(msg.id)  # type: ignore[arg-type]
                results.append(result)
                if len(ended) >= batch:
                    self.leases.messages_done(ended)
                    ended.clear()
                if self.stop.is_set():
                    break
        except KeyboardInterrupt:  # Ctrl-C reached a parse worker too: the claims go back
            self.stop.set()
        except Exception as exc:  # disk or database trouble: retried with backoff, not judged
            self._note_db(exc)
            if is_transient(exc):
                log.warning("processing paused: %s", exc)
            else:
                log.exception("processing failed")
            if held:  # only the message in hand is charged; the ones behind it go back as they were
                current = next(iter(held))
                try:
                    self.leases.message_done(current, error=describe(exc))
                    held.pop(current)
                except Exception:  # the store is down: the claim expires on its own
                    log.warning("could not record the failure of message #%s", current)
        finally:
            gen.close()
            try:
                self.leases.messages_done(ended)
            except Exception:  # the messages are judged; their claims will simply expire
                log.warning("could not end %d claims; they expire on their own", len(ended))
        try:
            self.leases.release_messages(held)
        except Exception:  # the store is down: the claims expire on their own
            log.warning("could not give back %d claims; they expire on their own", len(held))
        return results

    def _note_db(self, exc: BaseException) -> None:
        """Keep a database failure for the daemon's health file (the store cannot hold it)."""
        for e in (exc, exc.__cause__):
            if isinstance(e, DBAPIError):
                self.db_errors.append(e)
                return

    def _bytes(self, row: Message) -> bytes:
        return self.blobs.get(row.sha256)


def status_rows(config: Config, engine: Engine) -> list[dict[str, Any]]:
    """Per (mailbox, folder): last poll, cursor, backlog, last error, who holds it."""
    names = [m.name for m in config.settings.mailboxes]
    now = utcnow()
    with Session(engine) as s:
        cursors = s.exec(select(MailboxCursor).order_by(MailboxCursor.mailbox,
                                                        MailboxCursor.folder)).all()
        counts = s.exec(select(Message.mailbox, Message.folder, Message.status, func.count())
                        .where(col(Message.mailbox).is_not(None))
                        .group_by(Message.mailbox, Message.folder, Message.status)).all()
        stuck = s.exec(select(Message.mailbox, Message.folder, func.count(),
                              func.max(MessageLease.last_error))
                       .join(MessageLease, MessageLease.message_id == Message.id)
                       .where(Message.status == "pending",
                              MessageLease.attempts >= config.settings.daemon.retries + 1)
                       .group_by(Message.mailbox, Message.folder)).all()
        waiting = s.exec(select(Message.mailbox, Message.folder, func.count(),
                                func.max(MessageLease.last_error))
                         .join(MessageLease, MessageLease.message_id == Message.id)
                         .where(Message.status == "pending",
                                col(MessageLease.last_error).is_not(None))
                         .group_by(Message.mailbox, Message.folder)).all()
        refused = s.exec(select(Message.mailbox, Message.folder, func.count(),
                                func.max(Message.action_error), func.min(Message.action_retry_at))
                         .where(col(Message.action_retry_at).is_not(None))
                         .group_by(Message.mailbox, Message.folder)).all()
    by: dict[tuple[str | None, str | None], dict[str, int]] = defaultdict(dict)
    for mailbox, folder, status, n in counts:
        by[(mailbox, folder)][status] = n
    stuck_by = {(m, f): (n, e) for m, f, n, e in stuck}
    refused_by = {(m, f): (n, e, t) for m, f, n, e, t in refused}
    waiting_by = {(m, f): (n, e) for m, f, n, e in waiting}
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    out = []
    seen = set()
    for c in cursors:
        seen.add(c.mailbox)
        held = c.lease_owner if c.lease_until and c.lease_until > now else None
        key = (c.mailbox, c.folder)
        stats = by.get(key, {})
        out.append({
            "mailbox": c.mailbox, "folder": c.folder, "configured": c.mailbox in names,
            "last_poll_at": iso(c.last_poll_at), "last_success_at": iso(c.last_success_at),
            "next_poll_at": iso(c.next_poll_at),
            "cursor": {"uidvalidity": c.uidvalidity, "last_uid": c.last_uid,
                       "highest_modseq": c.highest_modseq, "uidnext": c.uidnext},
            "server_messages": c.messages, "stored": sum(stats.values()),
            "backlog": stats.get("pending", 0),
            "unfetched": max(0, c.server_uidnext - 1 - c.last_uid)
            if c.server_uidnext is not None else None,
            "stuck": stuck_by.get(key, (0, None))[0],
            "stuck_error": stuck_by.get(key, (0, None))[1],
            "retrying": waiting_by.get(key, (0, None))[0],  # pending after a failed attempt
            "retry_error": waiting_by.get(key, (0, None))[1],
            "actions_failed": refused_by.get(key, (0, None, None))[0],
            "action_error": refused_by.get(key, (0, None, None))[1],
            "action_retry_at": iso(refused_by.get(key, (0, None, None))[2]),
            "failures": c.failures, "last_error": c.last_error,
            "last_error_at": iso(c.last_error_at), "held_by": held,
        })
    for name in names:
        if name not in seen:
            out.append({"mailbox": name, "folder": None, "configured": True,
                        "last_poll_at": None, "last_success_at": None, "next_poll_at": None,
                        "cursor": None, "server_messages": None, "stored": 0, "backlog": 0,
                        "unfetched": None, "stuck": 0, "stuck_error": None,
                        "retrying": 0, "retry_error": None,
                        "actions_failed": 0, "action_error": None, "action_retry_at": None,
                        "failures": 0, "last_error": "never polled", "last_error_at": None,
                        "held_by": None})
    return out
