"""Giving messages another go: those a disk or database fault quarantined (before confere told
faults from content apart), and pending ones that used up their retries during an outage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pipeline.config.settings import Config, parse_interval
from pipeline.ingest.faults import quarantined_by_fault
from pipeline.ingest.ingestor import Ingestor, Result
from pipeline.ingest.sandbox import Sandbox
from pipeline.mail.leases import EPOCH, new_owner
from pipeline.vocabulary import MessageStatus
from storage import BlobStore, Document, Message, utcnow
from storage.mailbox_models import MessageLease


@dataclass
class Retried:
    """What a retry did: messages put back, messages left as they were (and why), outcomes."""

    reset: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)


def _stuck(s: Session, config: Config) -> set[int]:
    """Pending messages whose claims used up `daemon.retries`: the daemon no longer tries."""
    limit = config.settings.daemon.retries + 1
    return set(s.exec(select(Message.id).join(MessageLease, MessageLease.message_id == Message.id)
                      .where(Message.status == MessageStatus.PENDING,
                             MessageLease.attempts >= limit)).all())


def retry_candidates(engine: Engine, config: Config) -> list[Message]:
    """Quarantined messages (each with whether a fault, not the content, put it there) and
    pending ones out of retries, oldest first."""
    with Session(engine, expire_on_commit=False) as s:
        stuck = _stuck(s, config)
        rows = s.exec(select(Message).where(
            (Message.status == MessageStatus.QUARANTINED) | col(Message.id).in_(stuck))
            .order_by(Message.id)).all()
    return list(rows)


def retryable(msg: Message, stuck: set[int] | None = None) -> bool:
    """Whether `--all` takes this message: quarantined by a fault, or stuck pending."""
    if msg.status == MessageStatus.PENDING:
        return stuck is None or msg.id in stuck
    return msg.status == MessageStatus.QUARANTINED and quarantined_by_fault(msg.reason)


def retry_quarantined(engine: Engine, config: Config, ids: Iterable[int] | None = None,
                      sandbox: Sandbox | None = None) -> Retried:
    """Put messages back to pending and, given a sandbox, judge them now.

    `ids` None means all that a fault quarantined and all pending ones out of retries; named
    ids may be any quarantined or stuck message (a person decided). Each message is claimed
    while it is reset, so that a running daemon does not judge it at the same time.
    """
    out = Retried()
    owner = new_owner()
    lease = timedelta(seconds=parse_interval(config.settings.daemon.lease))
    with Session(engine, expire_on_commit=False) as s:
        stuck = _stuck(s, config)
        if ids is None:
            rows = [m for m in s.exec(select(Message).where(
                (Message.status == MessageStatus.QUARANTINED) | col(Message.id).in_(stuck))
                .order_by(Message.id)).all() if retryable(m, stuck)]
        else:
            wanted = list(dict.fromkeys(ids))
            found = {m.id: m for m in s.exec(select(Message).where(
                col(Message.id).in_(wanted))).all()}
            rows = []
            for i in wanted:
                m = found.get(i)
                if m is None:
                    out.skipped[i] = "no such message"
                elif m.status == MessageStatus.PENDING and i not in stuck:
                    out.skipped[i] = "already pending: the daemon will judge it"
                elif m.status not in (MessageStatus.QUARANTINED, MessageStatus.PENDING):
                    out.skipped[i] = f"is {m.status}, not in quarantine"
                else:
                    rows.append(m)
        now = utcnow()
        for m in rows:
            busy = s.get(MessageLease, m.id)
            if busy is not None and busy.lease_until > now and busy.owner != owner:
                out.skipped[m.id] = f"being judged right now by {busy.owner}"  # type: ignore[index]
                continue
            s.execute(delete(Document).where(Document.message_id == m.id))
            m.status, m.reason, m.processed_at = MessageStatus.PENDING, None, None
            s.add(m)
            if busy is None:
                busy = MessageLease(message_id=m.id, owner=owner, lease_until=now, attempts=0)
            busy.owner, busy.attempts, busy.last_error = owner, 0, None
            busy.lease_until = now + lease if sandbox is not None else EPOCH
            s.add(busy)
            out.reset.append(m.id)  # type: ignore[arg-type]
        s.commit()
        fresh = [m for m in rows if m.id in out.reset]
    if sandbox is None or not fresh:
        return out
    blobs = BlobStore(config.blob_dir)

    def items() -> Iterator[tuple[object, Message, bytes]]:
        for m in fresh:
            yield m.id, m, blobs.get(m.sha256)

    try:
        for _key, result in Ingestor(config, engine, sandbox).process_many(items()):
            out.results.append(result)
    finally:
        with Session(engine) as s:  # claims end: judged, or left pending for the daemon
            for lease_row in s.exec(select(MessageLease).where(
                    col(MessageLease.message_id).in_(out.reset),
                    MessageLease.owner == owner)).all():
                lease_row.lease_until = EPOCH
                s.add(lease_row)
            s.commit()
    return out
