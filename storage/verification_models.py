"""Issuer verifications: what ISSNet or the national NFS-e said about a note, and when next."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Verification(SQLModel, table=True):
    """One look-up per (invoice, source); asked again only on request or when it was unknown."""

    __tablename__ = "verifications"
    __table_args__ = (UniqueConstraint("invoice_id", "source", name="uq_verification_source"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True)
    source: str = Field(max_length=16)  # issnet | sefin
    host: str | None = Field(default=None, max_length=255)
    outcome: str = Field(max_length=8, index=True)  # pass | fail | unknown | skipped
    detail: str = Field(sa_column=Column(Text, nullable=False))
    differences: str | None = Field(default=None, sa_column=Column(Text))  # JSON list
    link: str | None = Field(default=None, sa_column=Column(Text))
    issuer_sha256: str | None = Field(default=None, max_length=64)  # the issuer's XML, in blobs
    attempts: int = 0  # unanswered tries in a row (sets the wait before the next)
    checked_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False))
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
