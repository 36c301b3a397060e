"""Mailbox state: a cursor per (mailbox, folder), and leases on pending messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class MailboxCursor(SQLModel, table=True):
    """How far one folder has been read, and which daemon holds it until when."""

    __tablename__ = "mailbox_cursors"
    __table_args__ = (UniqueConstraint("mailbox", "folder", name="uq_cursor_folder"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str = Field(max_length=200)
    folder: str = Field(max_length=500)
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)  # every UID <= this is stored
    acted_uid: int = Field(default=0, sa_type=BigInteger)  # post-action done up to here
    uidnext: int | None = Field(default=None, sa_type=BigInteger)
    highest_modseq: int | None = Field(default=None, sa_type=BigInteger)
    messages: int | None = None
    failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    server_uidnext: int | None = Field(default=None, sa_type=BigInteger)  # at the last STATUS
    last_poll_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_success_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    next_poll_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class MessageLease(SQLModel, table=True):
    """A daemon's claim on a pending message, so that only one processes it."""

    __tablename__ = "message_leases"

    message_id: int = Field(foreign_key="messages.id", primary_key=True)
    owner: str = Field(max_length=200)
    lease_until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
