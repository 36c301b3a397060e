"""Expected vs billed per contract and month: from metered usage or from declared metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from parsers.errors import ConfereError
from parsers.months import month_dates, month_key
from parsers.text import only_digits
from pipeline.checks.record import record_checks
from pipeline.checks.vocabulary import Check
from pipeline.config.settings import Config, ContractConfig
from pipeline.costs.metrics import MetricExpectation, expected_fee
from pipeline.costs.pricing import Priced, load_tables, table_for
from storage import Invoice, from_cents, to_cents, utcnow
from storage.sql import replace_rows
from storage.usage_models import Reconciliation, UsageEvent

CENT = Decimal("0.01")


def money(value: Decimal | None) -> str | None:
    """A Decimal as a string with two places (None stays None)."""
    return None if value is None else str(value.quantize(CENT))


@dataclass
class Result:
    """What one contract's month should cost, what was billed, and the judgement."""

    contract: ContractConfig
    month: str
    expected: Decimal | None = None
    billed: Decimal | None = None
    invoice_id: int | None = None
    breakdown: list[Priced] = field(default_factory=list)
    not_billed: int = 0
    price_table: str | None = None
    metric: MetricExpectation | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def check_name(self) -> str:
        """`reconcile.usage` or `reconcile.metric`, by how the contract is priced."""
        return f"reconcile.{self.contract.billing}"

    @property
    def difference(self) -> Decimal | None:
        """Billed minus expected (positive: billed more than expected)."""
        if self.expected is None or self.billed is None:
            return None
        return self.billed - self.expected

    @property
    def outcome(self) -> str:
        """match | over | under (beyond tolerance) | no_bill | no_data."""
        if self.expected is None:
            return "no_data"
        diff = self.difference
        if diff is None:
            return "no_bill"
        if abs(diff) <= self.contract.tolerance:
            return "match"
        return "over" if diff > 0 else "under"

    def check(self) -> Check:
        """The check recorded on the bill."""
        outcome = self.outcome
        if outcome == "no_data":
            return Check(self.check_name, "skipped", self.detail)
        if outcome == "no_bill":
            return Check(self.check_name, "skipped", f"no bill for this month yet; expected "
                         f"{money(self.expected)} ({self.detail})")
        word = {"match": "within", "over": "billed MORE than expected, beyond",
                "under": "billed less than expected, beyond"}[outcome]
        text = (f"billed {money(self.billed)}, expected {money(self.expected)} ({self.detail}); "
                f"difference {money(self.difference)}, {word} the tolerance of "
                f"{money(self.contract.tolerance)}")
        return Check(self.check_name, "pass" if outcome == "match" else "fail", text)

    def to_json(self) -> dict[str, Any]:
        """The `confere reconcile --json` object; amounts as strings with two decimals."""
        check = self.check()
        return {
            "contract": self.contract.number, "vendor": self.contract.vendor,
            "month": self.month, "billing": self.contract.billing,
            "price_table": self.price_table,
            "pricing_mode": self.contract.pricing_mode if self.contract.billing == "usage"
            else None,
            "expected_amount": money(self.expected), "billed_amount": money(self.billed),
            "difference": money(self.difference), "tolerance": money(self.contract.tolerance),
            "outcome": self.outcome, "check": check.outcome, "detail": check.detail,
            "invoice_id": self.invoice_id,
            "breakdown": [{"type": p.type, "count": p.count, "band": p.band,
                           "unit_price": money(p.unit_price), "amount": money(p.amount)}
                          for p in self.breakdown],
            "not_billed": self.not_billed,
            "metric": self.metric.to_json() if self.metric else None,
            **self.extra,
        }


def usage_filter(contract: ContractConfig) -> Any:
    """Events of a contract: by number, or unassigned ones of its contratante CNPJs."""
    cond = UsageEvent.contract == contract.number
    if contract.contratantes:
        cond = or_(cond, and_(UsageEvent.contract.is_(None),  # type: ignore[union-attr]
                              UsageEvent.contratante.in_(contract.contratantes)))  # type: ignore[union-attr]
    return cond


# A session whose info holds a dict under this key keeps count_usage's answers in it: for a
# transaction that judges many bills and writes no usage (a batch of the ingest).
USAGE_MEMO = "confere.usage_counts"


def count_usage(s: Session, contract: ContractConfig, month: str) -> tuple[dict[str, int], int]:
    """(billable count per type, events not billed) for a contract's month, by SQL GROUP BY."""
    memo = s.info.get(USAGE_MEMO)
    if memo is None:
        return _count_usage(s, contract, month)
    key = (contract.number, tuple(contract.contratantes), month)
    if key not in memo:
        memo[key] = _count_usage(s, contract, month)
    counts, free = memo[key]
    return dict(counts), free


def _count_usage(s: Session, contract: ContractConfig, month: str) -> tuple[dict[str, int], int]:
    rows = s.exec(select(UsageEvent.type, UsageEvent.billable, func.count())
                  .where(UsageEvent.month == month, usage_filter(contract))
                  .group_by(UsageEvent.type, UsageEvent.billable)).all()
    counts: dict[str, int] = {}
    free = 0
    for typ, billable, n in rows:
        if billable:
            counts[typ] = counts.get(typ, 0) + n
        else:
            free += n
    return counts, free


def find_invoice(s: Session, contract: ContractConfig, month: str) -> Invoice | None:
    """The newest stored bill of a contract for a month (else by its NFS-e competence)."""
    first, after = month_dates(month)
    by_competence = and_(Invoice.reference_month.is_(None),  # type: ignore[union-attr]
                         Invoice.competence >= first,  # type: ignore[operator]
                         Invoice.competence < after)  # type: ignore[operator]
    return s.exec(select(Invoice).where(Invoice.vendor == contract.vendor,
                                        Invoice.contract_number == contract.number,
                                        or_(Invoice.reference_month == month, by_competence))
                  .order_by(Invoice.id.desc())).first()  # type: ignore[union-attr]


def billed_amount(invoice: Invoice) -> Decimal | None:
    """What the bill charges: the NFS-e services amount (else its net amount)."""
    cents = invoice.services_cents if invoice.services_cents is not None else invoice.net_cents
    return from_cents(cents)


def compute(s: Session, config: Config, contract: ContractConfig, month: str,
            invoice: Invoice | None = None, tables: dict | None = None) -> Result:
    """Expected and billed for one contract and month (nothing is written)."""
    result = Result(contract, month)
    inv = invoice if invoice is not None else find_invoice(s, contract, month)
    if inv is not None:
        result.invoice_id, result.billed = inv.id, billed_amount(inv)
    if contract.billing == "metric":
        exp = expected_fee(s, contract, month)
        result.metric = exp
        result.expected, result.detail = exp.fee, exp.detail
        return result
    table = table_for(config, contract, month, tables)
    if table is None:
        result.detail = (f"no price table of vendor {contract.vendor} is valid in {month}: "
                         "set contracts.price_table or add one to price_tables")
        return result
    result.price_table = table.name
    counts, result.not_billed = count_usage(s, contract, month)
    if not counts and not result.not_billed:
        result.detail = (f"no metered usage for contract {contract.number} in {month}: import it "
                         "with `confere usage import` or meter the API client")
        return result
    result.expected, result.breakdown = table.bill(counts, contract.pricing_mode)
    parts = [f"{p.count} {p.type} at band {p.band} x {p.unit_price}" for p in result.breakdown
             if p.count]
    result.detail = (f"{', '.join(parts) or 'no billable requests'}; {contract.pricing_mode} "
                     f"mode, table {table.name}")
    return result


def store(s: Session, result: Result) -> None:
    """Insert or update the reconciliation row of a contract and month (one statement)."""
    data = result.to_json()
    values = {
        "vendor": result.contract.vendor, "contract": result.contract.number,
        "month": result.month, "billing": result.contract.billing,
        "invoice_id": result.invoice_id, "expected_cents": to_cents(result.expected),
        "billed_cents": to_cents(result.billed), "difference_cents": to_cents(result.difference),
        "outcome": result.outcome, "check_outcome": data["check"], "detail": data["detail"],
        "breakdown": json.dumps(data["breakdown"]), "computed_at": utcnow(),
    }
    replace_rows(s, Reconciliation, [values], key=("contract", "month"), keep=("vendor",))


def contract_of(config: Config, vendor: str, number: str | None) -> ContractConfig | None:
    """The configured contract of a bill (digits compared)."""
    digits = only_digits(number)
    for c in config.contracts_for(vendor):
        if only_digits(c.number) == digits and digits:
            return c
    return None


def invoice_month(invoice: Invoice) -> str | None:
    """The bill's reference month (else its NFS-e competence month)."""
    if invoice.reference_month:
        return invoice.reference_month
    return month_key(invoice.competence) if invoice.competence else None


def reconcile_check(s: Session, invoice: Invoice, config: Config) -> Check:
    """Judge a stored bill against what it should cost (its reconciliation row is kept);
    the reconcile.* check is returned, not recorded."""
    contract = contract_of(config, invoice.vendor, invoice.contract_number)
    month = invoice_month(invoice)
    if contract is None or month is None:
        what = "no reference month" if contract else (
            f"contract {invoice.contract_number or '(none)'} is not configured")
        return Check("reconcile.usage", "skipped", f"cannot reconcile: {what}")
    try:
        result = compute(s, config, contract, month, invoice=invoice)
    except ConfereError as exc:
        return Check(f"reconcile.{contract.billing}", "unknown", str(exc))
    store(s, result)
    return result.check()


def reconcile_invoice(s: Session, invoice: Invoice, config: Config) -> Check:
    """reconcile_check, recorded on the invoice (its verdict follows). The caller commits."""
    check = reconcile_check(s, invoice, config)
    record_checks(s, invoice, [check])
    return check


def reconcile_month(engine: Engine, config: Config, month: str,
                    contracts: Iterable[ContractConfig] | None = None) -> list[Result]:
    """Reconcile every configured contract for a month; stores results, updates bills."""
    chosen = list(contracts if contracts is not None else config.settings.contracts)
    tables = load_tables(config)
    out = []
    with Session(engine, expire_on_commit=False) as s:
        for contract in chosen:
            result = compute(s, config, contract, month, tables=tables)
            store(s, result)
            if result.invoice_id is not None:
                inv = s.get(Invoice, result.invoice_id)
                record_checks(s, inv, [result.check()])  # type: ignore[arg-type]
            out.append(result)
        s.commit()
    return out


def refresh(engine: Engine, config: Config,
            keys: Iterable[tuple[str | None, str | None, str]]) -> list[Result]:
    """After late usage: recompute the months that already have a bill or a stored result."""
    pairs: set[tuple[str, str]] = set()
    for contract_no, contratante, month in keys:
        for c in config.settings.contracts:
            if c.billing == "usage" and (c.number == contract_no or (
                    contract_no is None and contratante in c.contratantes)):
                pairs.add((c.number, month))
    if not pairs:
        return []
    with Session(engine) as s:
        months = {m for _c, m in pairs}
        known = {(r.contract, r.month) for r in s.exec(
            select(Reconciliation).where(Reconciliation.month.in_(months))).all()}  # type: ignore[attr-defined]
        billed = {(i.contract_number, i.reference_month) for i in s.exec(
            select(Invoice).where(Invoice.reference_month.in_(months))).all()}  # type: ignore[union-attr]
    out: list[Result] = []
    by_number = {c.number: c for c in config.settings.contracts}
    for number, month in sorted(pairs & (known | billed)):
        out.extend(reconcile_month(engine, config, month, [by_number[number]]))
    return out


def refresh_metric(engine: Engine, config: Config, contract: ContractConfig,
                   year: int) -> list[Result]:
    """After declarations change: recompute the months whose bills are priced by that year."""
    bill_year = year + contract.metric_year_offset
    with Session(engine) as s:
        months = sorted({m for m in s.exec(select(Invoice.reference_month).where(
            Invoice.vendor == contract.vendor, Invoice.contract_number == contract.number)).all()
            if m and m.startswith(f"{bill_year}-")})
    return [r for m in months for r in reconcile_month(engine, config, m, [contract])]
