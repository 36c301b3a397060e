"""Sharing work between daemons: row leases on folders and messages, advisory and file locks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import secrets
import socket
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from parsers.errors import DaemonRefused
from pipeline.ingest.processes import process_gone
from storage import Message, utcnow
from storage.mailbox_models import MailboxCursor, MessageLease
from storage.sql import advisory_lock, transaction, upsert

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RETRY_AFTER = 30.0  # seconds before a message whose judging failed (disk, database) is retried
RETRY_MAX = 900.0  # ...doubling up to this


def new_owner() -> str:
    """A daemon's identity in leases: host, pid and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _dead_local(owner: str | None) -> bool:
    """True when the owner was a process of this host that no longer runs (a zombie, killed
    and not yet reaped, included: its leases are taken over at once, not at their expiry)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() \
        and process_gone(int(pid))


class Leases:
    """Claims on folders (cursors) and pending messages, with expiry, for one owner."""

    def __init__(self, engine: Engine, owner: str, lease_seconds: float = 300.0) -> None:
        self.engine = engine
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)

    # -- folders ---------------------------------------------------------------------------
    def ensure_cursors(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Create the cursor rows of configured (mailbox, folder) pairs that do not exist yet."""
        with Session(self.engine) as s:
            have = {(c.mailbox, c.folder) for c in s.exec(select(MailboxCursor)).all()}
        for mailbox, folder in pairs:
            if (mailbox, folder) in have:
                continue
            with Session(self.engine) as s:
                s.add(MailboxCursor(mailbox=mailbox, folder=folder))
                try:
                    s.commit()
                except IntegrityError:
                    s.rollback()  # another daemon created it first

    def claim_cursors(self, mailboxes: Iterable[str], limit: int = 10,
                      force: bool = False) -> list[MailboxCursor]:
        """Take up to `limit` due folders nobody holds; SKIP LOCKED keeps daemons apart."""
        now = utcnow()
        names = list(mailboxes)
        if not names:
            return []
        with Session(self.engine, expire_on_commit=False) as s:
            q = select(MailboxCursor).where(
                col(MailboxCursor.mailbox).in_(names),
                or_(col(MailboxCursor.lease_until).is_(None), MailboxCursor.lease_until < now,
                    MailboxCursor.lease_owner == self.owner))
            if not force:
                q = q.where(MailboxCursor.next_poll_at <= now)
            q = q.order_by(MailboxCursor.next_poll_at).limit(limit)
            rows = s.exec(q.with_for_update(skip_locked=True)).all()
            claimed = []
            for row in rows:
                res = s.execute(update(MailboxCursor).where(
                    MailboxCursor.id == row.id,
                    or_(col(MailboxCursor.lease_until).is_(None), MailboxCursor.lease_until < now,
                        MailboxCursor.lease_owner == self.owner),
                ).values(lease_owner=self.owner, lease_until=now + self.lease))
                if res.rowcount == 1:
                    claimed.append(row.id)
            s.commit()
            return [s.get(MailboxCursor, i, populate_existing=True) for i in claimed]

    def release_cursor(self, cursor_id: int, every: float, error: str | None) -> None:
        """Give a folder back with its next poll time (jittered) and its last error."""
        now = utcnow()
        with Session(self.engine) as s:
            cur = s.get(MailboxCursor, cursor_id)
            if cur is None or cur.lease_owner != self.owner:
                return
            cur.failures = cur.failures + 1 if error else 0
            if error:
                cur.last_error, cur.last_error_at = error[:2000], now
                wait = min(every, 5.0 * 2 ** min(cur.failures - 1, 10))
            else:  # a good poll clears the error: status shows what is wrong now
                cur.last_success_at, cur.last_error, cur.last_error_at = now, None, None
                wait = every
            cur.last_poll_at = now
            cur.next_poll_at = now + timedelta(seconds=wait * random.uniform(1.0, 1.1))
            cur.lease_owner, cur.lease_until = None, None
            s.add(cur)
            s.commit()

    # -- messages --------------------------------------------------------------------------
    def claim_messages(self, limit: int, max_attempts: int = 4,
                       mailboxes: Iterable[str] | None = None) -> list[int]:
        """Take up to `limit` pending messages nobody is processing; each is claimed once."""
        now = utcnow()
        with Session(self.engine) as s:
            q = (select(Message.id).outerjoin(MessageLease, MessageLease.message_id == Message.id)
                 .where(Message.status == "pending",
                        or_(col(MessageLease.message_id).is_(None),
                            (MessageLease.lease_until < now)
                            & (MessageLease.attempts < max_attempts)))
                 .order_by(Message.id).limit(limit))
            if mailboxes is not None:
                q = q.where(col(Message.mailbox).in_(list(mailboxes)))
            ids = list(s.exec(q).all())
            if not ids:
                return []
            t = MessageLease.__table__.c
            until = now + self.lease
            claimed = set(upsert(
                s, MessageLease, [{"message_id": mid, "owner": self.owner, "lease_until": until,
                                   "attempts": 1} for mid in ids],
                key=["message_id"],
                set_={"owner": self.owner, "lease_until": until, "attempts": t.attempts + 1},
                where=(t.lease_until < now) & (t.attempts < max_attempts),
                returning=[t.message_id]).scalars())
            s.commit()
            return [mid for mid in ids if mid in claimed]

    def message_done(self, message_id: int, error: str | None = None,
                     retry_after: float = RETRY_AFTER) -> None:
        """End a claim: done (lease expires now) or failed (retried later, the wait doubling
        with each attempt, the error kept for `confere status`)."""
        until = EPOCH
        if error:
            with Session(self.engine) as s:
                lease = s.get(MessageLease, message_id)
                tries = lease.attempts if lease is not None else 1
            wait = min(RETRY_MAX, retry_after * 2 ** max(0, min(tries - 1, 10)))
            until = utcnow() + timedelta(seconds=wait)
        self._end([message_id], lease_until=until, last_error=error[:2000] if error else None)

    def messages_done(self, ids: Iterable[int]) -> None:
        """End several claims that were done, in one statement."""
        self._end(ids, lease_until=EPOCH, last_error=None)

    def release_messages(self, ids: Iterable[int]) -> None:
        """Give back claims never worked on (shutdown): the attempt does not count."""
        self._end(ids, lease_until=EPOCH, attempts=MessageLease.attempts - 1)

    def _end(self, ids: Iterable[int], **values: Any) -> None:
        ids = list(ids)
        if not ids:
            return
        with transaction(self.engine) as s:
            s.execute(update(MessageLease).where(col(MessageLease.message_id).in_(ids),
                                                 MessageLease.owner == self.owner)
                      .values(**values))

    # -- recovery --------------------------------------------------------------------------
    def release_dead_local(self) -> int:
        """Free leases held by processes of this host that died (SIGKILL, power loss)."""
        freed = 0
        with transaction(self.engine) as s:
            for cur in s.exec(select(MailboxCursor).where(
                    col(MailboxCursor.lease_owner).is_not(None))).all():
                if _dead_local(cur.lease_owner):
                    cur.lease_owner, cur.lease_until, cur.next_poll_at = None, None, utcnow()
                    s.add(cur)
                    freed += 1
            now = utcnow()
            for ml in s.exec(select(MessageLease).where(MessageLease.lease_until > now)).all():
                if _dead_local(ml.owner):
                    ml.lease_until, ml.attempts = EPOCH, max(0, ml.attempts - 1)
                    s.add(ml)
                    freed += 1
        return freed

    def release_all(self) -> None:
        """Give back every folder this owner holds (clean shutdown)."""
        with transaction(self.engine) as s:
            s.execute(update(MailboxCursor).where(MailboxCursor.lease_owner == self.owner)
                      .values(lease_owner=None, lease_until=None))

    def pending_count(self) -> int:
        """Messages stored and not processed yet."""
        with Session(self.engine) as s:
            return s.exec(select(func.count()).select_from(Message)
                          .where(Message.status == "pending")).one()


@contextlib.contextmanager
def singleton(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True in exactly one process at a time (PostgreSQL advisory lock) for `name`."""
    with advisory_lock(engine, name) as got:
        yield got


def sqlite_daemon_lock(engine: Engine) -> IO[str] | None:
    """On SQLite, hold a lock file beside the database; refuse when another process holds it."""
    if engine.dialect.name != "sqlite":
        return None
    db = engine.url.database or ""
    if not db or db == ":memory:":
        return None
    path = Path(db + ".daemon.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise DaemonRefused(
            f"another confere daemon ({holder}) is using the SQLite store {db}; SQLite allows "
            "one daemon at a time: stop it, or move the store to PostgreSQL to run several") \
            from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
    handle.flush()
    return handle
