"""The alert outbox: one row per alert, unique by its dedupe key, delivered by the daemon."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Alert(SQLModel, table=True):
    """An email to send, rendered when its event happened; sent once, retried with backoff.

    `next_attempt_at` doubles as the delivery lease: a sender claims a row by moving it into
    the future, so a crash mid-send leaves the row due again once the lease runs out.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_alert_dedupe_key"),
        Index("ix_alert_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200)
    kind: str = Field(max_length=16, index=True)  # new block review due missing over ...
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id", index=True)
    contract: str | None = Field(default=None, max_length=64)
    month: str | None = Field(default=None, max_length=7)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str = Field(sa_column=Column(Text, nullable=False))
    attachments: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON
    message_id: str = Field(max_length=255)  # the Message-ID header, fixed at enqueue
    status: str = Field(default="pending", max_length=8)  # pending | sent | failed
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
