"""One folder's cursor in the store: raw messages kept and cursor advanced in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from parsers.errors import BlobWriteError, LeaseLost
from storage import BlobStore, Message, utcnow
from storage.mailbox_models import MailboxCursor
from storage.sql import bulk_insert, new_row, transaction

ACTION_BACKOFF = 60.0  # seconds before a refused post-action is tried again, doubling
ACTION_BACKOFF_MAX = 3600.0


def _utc(when: datetime | None) -> datetime | None:
    """An INTERNALDATE as aware UTC (IMAPClient gives naive local time)."""
    if when is None:
        return None
    return when.astimezone(UTC)


def _put(blobs: BlobStore, *raws: bytes) -> list[str]:
    """Keep bytes in the blob store; an OSError here is the disk's, never the IMAP socket's."""
    try:
        return blobs.put_many(raws)
    except OSError as exc:
        raise BlobWriteError(f"cannot write to the blob store {blobs.root}: {exc}") from exc


@dataclass
class FolderReport:
    """What one poll of one folder did, in numbers (also what tests spy on)."""

    mailbox: str
    folder: str
    idle: bool = False
    resync: bool = False
    status_calls: int = 0
    selects: int = 0
    searches: int = 0
    fetch_commands: int = 0
    candidates: int = 0
    fetched: int = 0
    stored: int = 0
    known: int = 0
    acted: int = 0
    reconnects: int = 0
    action_failures: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)


class FolderState:
    """The cursor of one claimed (mailbox, folder), read and written under our lease."""

    def __init__(self, engine: Engine, blobs: BlobStore, cursor: MailboxCursor, owner: str,
                 lease_seconds: float, source: str = "imap",
                 on_mail: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.on_mail = on_mail  # told when mail is about to be stored (the pool starts)
        self.blobs = blobs
        self.cursor = cursor
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.source = source

    @property
    def mailbox(self) -> str:
        """The mailbox's configured name."""
        return self.cursor.mailbox

    @property
    def folder(self) -> str:
        """The folder's name on the server."""
        return self.cursor.folder

    def reload(self) -> MailboxCursor:
        """Read the cursor again (after a reconnect: another attempt resumes from the store)."""
        with Session(self.engine, expire_on_commit=False) as s:
            cur = s.get(MailboxCursor, self.cursor.id)
            assert cur is not None
            if cur.lease_owner != self.owner:
                raise LeaseLost(f"{self.mailbox}/{self.folder}: lease taken by {cur.lease_owner}")
            self.cursor = cur
            return cur

    def _update(self, s: Session, **values: object) -> None:
        """Write cursor fields and renew the lease; fails if the lease is no longer ours."""
        res = s.execute(update(MailboxCursor).where(
            MailboxCursor.id == self.cursor.id, MailboxCursor.lease_owner == self.owner,
        ).values(lease_until=utcnow() + self.lease, **values))
        if res.rowcount != 1:
            s.rollback()
            raise LeaseLost(f"{self.mailbox}/{self.folder}: lease lost")
        for k, v in values.items():
            setattr(self.cursor, k, v)

    def save(self, **values: object) -> None:
        """Write cursor fields in their own transaction."""
        with transaction(self.engine) as s:
            self._update(s, **values)

    def reset(self, uidvalidity: int) -> None:
        """A new UIDVALIDITY: start over; content hashes keep old mail from re-entering."""
        self.save(uidvalidity=uidvalidity, last_uid=0, acted_uid=0, uidnext=None,
                  highest_modseq=None)

    def store_batch(self, items: Sequence[tuple[int, bytes]], upto: int | None = None,
                    dates: Mapping[int, datetime | None] | None = None) -> int:
        """Keep the messages (uid, raw) and move last_uid to `upto` in one transaction.

        Returns how many were new. Bytes already stored (same sha256) are not stored again; when
        they came from this folder under an old UIDVALIDITY, their row takes the new identity.
        `dates` are the server's INTERNALDATEs (when each message arrived), by UID.
        """
        if items and self.on_mail is not None:
            self.on_mail()
        shas = _put(self.blobs, *(raw for _uid, raw in items))
        digests = [(uid, sha, len(raw)) for (uid, raw), sha in zip(items, shas, strict=True)]
        top = max([upto or 0, *(uid for uid, _d, _n in digests)])
        arrived = {u: _utc(d) for u, d in (dates or {}).items()}
        for _attempt in range(3):
            try:
                return self._store(digests, top, arrived)
            except IntegrityError:
                continue  # a concurrent writer stored the same bytes: the next try sees them
        return self._store(digests, top, arrived)

    def _store(self, digests: list[tuple[int, str, int]], top: int,
               arrived: Mapping[int, datetime | None]) -> int:
        uv = self.cursor.uidvalidity
        with Session(self.engine) as s:
            shas = [d for _u, d, _n in digests]
            existing = {m.sha256: m for m in s.exec(
                select(Message).where(col(Message.sha256).in_(shas))).all()}
            rows: dict[str, dict[str, Any]] = {}  # new messages, by sha256 (Core INSERTs)
            for uid, digest, size in digests:
                old = existing.get(digest)
                if old is None and digest not in rows:
                    rows[digest] = new_row(
                        Message, sha256=digest, size=size, source=self.source,
                        mailbox=self.mailbox, folder=self.folder, uidvalidity=uv, uid=uid,
                        internal_date=arrived.get(uid))
                elif old is not None and (old.mailbox, old.folder) == (self.mailbox, self.folder) \
                        and old.uidvalidity != uv and old.id is not None:
                    old.uidvalidity, old.uid = uv, uid
                    s.add(old)
            new = len(rows)
            s.flush()
            bulk_insert(s, Message, list(rows.values()))
            if top > self.cursor.last_uid:
                self._update(s, last_uid=top)
            else:
                self._update(s)
            s.commit()
        return new

    def stored_uids(self, low: int, high: int) -> list[int]:
        """UIDs in (low, high] of this folder that have a stored message (for post-actions)."""
        with Session(self.engine) as s:
            rows = s.exec(select(Message.uid).where(
                Message.mailbox == self.mailbox, Message.folder == self.folder,
                Message.uidvalidity == self.cursor.uidvalidity,
                col(Message.uid) > low, col(Message.uid) <= high)).all()
        return sorted(u for u in rows if u is not None)

    def _folder_rows(self, uids: Sequence[int]) -> Any:
        """An UPDATE of this folder's messages with these UIDs (under the current UIDVALIDITY)."""
        return update(Message).where(
            Message.mailbox == self.mailbox, Message.folder == self.folder,
            Message.uidvalidity == self.cursor.uidvalidity, col(Message.uid).in_(list(uids)))

    def action_failed(self, uids: Sequence[int], error: str) -> None:
        """Record a post-action the server refused on these messages; retried with backoff."""
        now = utcnow()
        with Session(self.engine) as s:
            rows = s.exec(select(Message).where(
                Message.mailbox == self.mailbox, Message.folder == self.folder,
                Message.uidvalidity == self.cursor.uidvalidity,
                col(Message.uid).in_(list(uids)))).all()
            for m in rows:
                m.action_attempts = (m.action_attempts or 0) + 1
                m.action_error = error[:2000]
                wait = min(ACTION_BACKOFF_MAX, ACTION_BACKOFF * 2 ** min(m.action_attempts - 1, 12))
                m.action_retry_at = now + timedelta(seconds=wait)
                s.add(m)
            s.commit()

    def action_done(self, uids: Sequence[int]) -> None:
        """A post-action that failed before went through: nothing more to retry."""
        with Session(self.engine) as s:
            s.execute(self._folder_rows(uids).values(action_error=None, action_retry_at=None,
                                                     action_attempts=0))
            s.commit()

    def actions_due(self) -> list[int]:
        """UIDs of this folder whose failed post-action is due to be tried again."""
        with Session(self.engine) as s:
            rows = s.exec(select(Message.uid).where(
                Message.mailbox == self.mailbox, Message.folder == self.folder,
                Message.uidvalidity == self.cursor.uidvalidity,
                col(Message.action_retry_at).is_not(None),
                col(Message.action_retry_at) <= utcnow())).all()
        return sorted(u for u in rows if u is not None)

    def known_paths(self) -> set[str]:
        """Paths already stored from this local source (files, Maildir keys, mbox keys)."""
        with Session(self.engine) as s:
            rows = s.exec(select(Message.path).where(Message.mailbox == self.mailbox,
                                                     Message.folder == self.folder)).all()
        return {p for p in rows if p}

    def store_local(self, path: str, raw: bytes) -> bool:
        """Keep one message read from a local source; False when its bytes were stored before."""
        if self.on_mail is not None:
            self.on_mail()
        [digest] = _put(self.blobs, raw)
        with Session(self.engine) as s:
            if s.exec(select(Message.id).where(Message.sha256 == digest)).first() is not None:
                self._update(s)
                s.commit()
                return False
            s.add(Message(sha256=digest, size=len(raw), source=self.source, path=path,
                          mailbox=self.mailbox, folder=self.folder))
            self._update(s)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return False
            return True
