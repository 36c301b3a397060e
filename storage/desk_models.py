"""The desk's tables: people and API tokens, decisions on bills, banks people confirmed, the audit.

A bill's machine verdict stays on `invoices`; what people decided about it lives here, one row
per bill in `invoice_decisions`, and every change to either is written to `audit_log` (append
only: the migration adds triggers that refuse UPDATE and DELETE on it).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class User(SQLModel, table=True):
    """A person who logs in to the desk; the password is kept only as an argon2 hash."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=16)  # viewer | approver | admin
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    disabled: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API, kept as its sha256 (the token is shown once)."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class InvoiceDecision(SQLModel, table=True):
    """What people decided about one bill, and its payment: at most one row per bill."""

    __tablename__ = "invoice_decisions"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", unique=True)
    decision: str | None = Field(default=None, max_length=16)  # approved|rejected|overridden
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    paid_on: date | None = None
    paid_by: str | None = Field(default=None, max_length=200)
    proof_sha256: str | None = Field(default=None, max_length=64)
    proof_name: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class LearnedBank(SQLModel, table=True):
    """A bank a person confirmed for a vendor by approving its bill: trusted from then on."""

    __tablename__ = "learned_banks"
    __table_args__ = (UniqueConstraint("vendor", "bank_code", name="uq_learned_bank"),)

    id: int | None = Field(default=None, primary_key=True)
    vendor: str = Field(max_length=64)
    bank_code: str = Field(max_length=3)
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")
    learned_by: str = Field(max_length=200)
    learned_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class AuditEntry(SQLModel, table=True):
    """One thing someone did: who, with which role, from where, what, when, before/after, why."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor: str = Field(max_length=200)
    role: str = Field(max_length=16)
    source: str = Field(max_length=100)  # "cli", or the client's IP address
    action: str = Field(max_length=32, index=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id", index=True)
    before: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    after: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # JSON
    reason: str | None = Field(default=None, sa_column=Column(Text))
