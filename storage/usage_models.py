"""Tables of the cost stage: metered usage events, metric declarations, reconciliations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, utcnow


class UsageEvent(SQLModel, table=True):
    """One metered API call; unique by request id, so importing twice adds nothing."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("request_id", name="uq_usage_request_id"),
        # Covers the reconciliation's count per type and month (no table lookups).
        Index("ix_usage_month_contract", "month", "contract", "contratante", "billable", "type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=128)
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    month: str = Field(max_length=7)  # YYYY-MM in America/Sao_Paulo
    contract: str | None = Field(default=None, max_length=64)
    contratante: str | None = Field(default=None, max_length=14)
    type: str = Field(max_length=16)  # consulta emissao declaracao apoiar monitorar
    id_sistema: str | None = Field(default=None, max_length=64)
    id_servico: str | None = Field(default=None, max_length=64)
    status: int
    billable: bool
    source: str = Field(default="import", max_length=16)  # import | meter


class MetricDeclaration(SQLModel, table=True):
    """One company's yearly revenue declaration for a metric-priced vendor (draft/concluded)."""

    __tablename__ = "metric_declarations"
    __table_args__ = (
        UniqueConstraint("vendor", "company_cnpj", "year", name="uq_metric_vendor_company_year"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vendor: str = Field(max_length=64, index=True)
    company_cnpj: str = Field(max_length=14)
    year: int
    gross_cents: int = Field(sa_type=BigInteger)
    cancellations_cents: int = Field(sa_type=BigInteger)
    taxes_cents: int = Field(sa_type=BigInteger)
    discounts_cents: int = Field(sa_type=BigInteger)
    net_cents: int = Field(sa_type=BigInteger)
    status: str = Field(max_length=16)  # draft | concluded
    source: str = Field(max_length=16)  # form | ecf
    source_detail: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Reconciliation(SQLModel, table=True):
    """Expected vs billed for one contract and month, as last computed."""

    __tablename__ = "reconciliations"
    __table_args__ = (
        UniqueConstraint("contract", "month", name="uq_reconciliation_contract_month"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vendor: str = Field(max_length=64)
    contract: str = Field(max_length=64)
    month: str = Field(max_length=7, index=True)
    billing: str = Field(max_length=16)  # usage | metric
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")
    expected_cents: int | None = Field(default=None, sa_type=BigInteger)
    billed_cents: int | None = Field(default=None, sa_type=BigInteger)
    difference_cents: int | None = Field(default=None, sa_type=BigInteger)
    outcome: str = Field(max_length=16)  # match over under no_bill no_data
    check_outcome: str = Field(max_length=8)  # pass fail skipped
    detail: str = Field(sa_column=Column(Text, nullable=False))
    breakdown: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    computed_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
