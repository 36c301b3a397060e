"""The tables: messages, documents, invoices, boletos, checks. Uniqueness lives here."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class Message(SQLModel, table=True):
    """One raw email as received; its bytes live in the blob store under sha256."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_message_imap"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True, index=True)
    source: str = Field(max_length=32)  # "imap" | "file"
    mailbox: str | None = Field(default=None, max_length=200)
    folder: str | None = Field(default=None, max_length=500)
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)  # IMAP: 32-bit unsigned
    uid: int | None = Field(default=None, sa_type=BigInteger)
    size: int
    path: str | None = Field(default=None, sa_column=Column(Text))
    message_id: str | None = Field(default=None, sa_column=Column(Text))
    from_address: str | None = Field(default=None, sa_column=Column(Text))
    subject: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default="pending", max_length=16, index=True)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    received_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False))
    processed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    internal_date: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    action_error: str | None = Field(default=None, sa_column=Column(Text))  # post-action refused
    action_attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False,
                                                             server_default="0"))
    action_retry_at: datetime | None = Field(default=None,
                                             sa_column=Column(UTCDateTime(), index=True))


class Document(SQLModel, table=True):
    """An attachment of a message, classified, with its bytes in the blob store."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("message_id", "sha256", name="uq_document_message_sha"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    filename: str | None = Field(default=None, sa_column=Column(Text))
    content_type: str = Field(max_length=200)
    kind: str = Field(max_length=16)  # nfse_xml, nfse_pdf, boleto_pdf, other
    size: int
    error: str | None = Field(default=None, sa_column=Column(Text))


class Invoice(SQLModel, table=True):
    """A bill: what the email, the NFS-e and the boleto say, and the verdict on it."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("provider_cnpj", "nfse_number", name="uq_invoice_nfse"),
                      # the desk's "A pagar": unpaid bills in due-date order, a page at a time
                      Index("ix_invoice_open_due", "paid_at", "due_date"))

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", unique=True)
    vendor: str = Field(max_length=64, index=True)
    contract_number: str | None = Field(default=None, max_length=64, index=True)
    reference_month: str | None = Field(default=None, max_length=7, index=True)
    due_date: date | None = None
    nfse_layout: str | None = Field(default=None, max_length=16)
    nfse_number: str | None = Field(default=None, max_length=32)
    verification_code: str | None = Field(default=None, max_length=64)
    access_key: str | None = Field(default=None, max_length=64)
    issued_at: str | None = Field(default=None, max_length=40)  # as the issuer wrote it
    competence: date | None = None
    provider_cnpj: str | None = Field(default=None, max_length=14)
    provider_name: str | None = Field(default=None, sa_column=Column(Text))
    provider_municipal_registration: str | None = Field(default=None, max_length=32)
    taker_cnpj: str | None = Field(default=None, max_length=14)
    services_cents: int | None = None
    deductions_cents: int | None = None
    iss_cents: int | None = None
    iss_withheld: bool | None = None
    retentions_cents: int | None = None
    net_cents: int | None = None
    service_item: str | None = Field(default=None, max_length=32)
    municipality_code: str | None = Field(default=None, max_length=16)
    verdict: str = Field(max_length=8, index=True)
    paid_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False))


class BoletoRow(SQLModel, table=True):
    """The boleto of a bill and the Pix code printed on it."""

    __tablename__ = "boletos"

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", unique=True)
    digitable_line: str | None = Field(default=None, max_length=47)
    barcode: str = Field(max_length=44)
    bank_code: str = Field(max_length=3, index=True)
    due_date: date | None = None
    amount_cents: int
    barcode_read: bool
    pix_payload: str | None = Field(default=None, sa_column=Column(Text))
    pix_crc_valid: bool | None = None
    pix_merchant_name: str | None = Field(default=None, max_length=100)
    pix_merchant_city: str | None = Field(default=None, max_length=100)
    pix_amount_cents: int | None = None
    pix_key: str | None = Field(default=None, max_length=100)
    pix_url: str | None = Field(default=None, sa_column=Column(Text))
    pix_txid: str | None = Field(default=None, max_length=100)


class CheckRow(SQLModel, table=True):
    """One named check on a bill: pass, fail, unknown or skipped, with a detail line."""

    __tablename__ = "checks"
    __table_args__ = (UniqueConstraint("invoice_id", "name", name="uq_check_invoice_name"),)

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int = Field(foreign_key="invoices.id", index=True)
    name: str = Field(max_length=64)
    outcome: str = Field(max_length=8)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    checked_at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False))
