"""Metric declarations: yearly net revenue per company, the group's proof, the expected fee."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from parsers import cnpj as cnpj_rules
from parsers.ecf import EcfFile
from parsers.errors import DeclarationError
from pipeline.config.settings import ContractConfig
from storage import from_cents, to_cents, utcnow
from storage.usage_models import MetricDeclaration

ZERO = Decimal("0.00")




@dataclass(frozen=True)
class Figures:
    """RECEITA BRUTA minus cancellations, taxes and unconditional discounts = RECEITA LIQUIDA."""

    gross: Decimal
    cancellations: Decimal = ZERO
    taxes: Decimal = ZERO
    discounts: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        """The declared metric (receita liquida)."""
        return self.gross - self.cancellations - self.taxes - self.discounts

    def check(self) -> None:
        """Refuse negative figures and a negative net."""
        for name in ("gross", "cancellations", "taxes", "discounts"):
            if getattr(self, name) < 0:
                raise DeclarationError(f"{name} must not be negative ({getattr(self, name)})")
        if self.net < 0:
            raise DeclarationError(f"the deductions ({self.gross - self.net}) exceed the gross "
                                   f"revenue ({self.gross})")


def figures_from_ecf(ecf: EcfFile) -> tuple[Figures, list[str]]:
    """The figures an ECF proposes, and notes on how deductions were classified."""
    notes: list[str] = []
    split = {"cancellations": ZERO, "taxes": ZERO, "discounts": ZERO}
    for line in ecf.deduction_lines:
        split[line.kind] += line.amount
    unassigned = ecf.deductions - sum(split.values(), ZERO)
    if unassigned > 0:
        split["taxes"] += unassigned
        notes.append(f"{unassigned} of deductions (3.01.01.01.02) had no sub-account telling "
                     "what they are: proposed as taxes; correct with --cancellations/--taxes/"
                     "--discounts if needed")
    return Figures(ecf.gross_revenue, **split), notes


def save(s: Session, vendor: str, cnpj: str, year: int, figures: Figures, *, status: str,
         source: str, source_detail: str | None = None) -> MetricDeclaration:
    """Insert or replace one company's declaration for a vendor and year (caller commits)."""
    if status not in ("draft", "concluded"):
        raise DeclarationError(f"status {status!r}: use draft or concluded")
    if not cnpj_rules.is_valid(cnpj):
        raise DeclarationError(f"{cnpj!r} is not a valid CNPJ (check digits do not hold)")
    if not 1900 <= year <= 2200:
        raise DeclarationError(f"year {year} is not plausible")
    figures.check()
    cnpj = cnpj_rules.normalize(cnpj)
    row = s.exec(select(MetricDeclaration).where(
        MetricDeclaration.vendor == vendor, MetricDeclaration.company_cnpj == cnpj,
        MetricDeclaration.year == year)).first()
    if row is None:
        row = MetricDeclaration(vendor=vendor, company_cnpj=cnpj, year=year, gross_cents=0,
                                cancellations_cents=0, taxes_cents=0, discounts_cents=0,
                                net_cents=0, status=status, source=source)
    row.gross_cents = to_cents(figures.gross)  # type: ignore[assignment]
    row.cancellations_cents = to_cents(figures.cancellations)  # type: ignore[assignment]
    row.taxes_cents = to_cents(figures.taxes)  # type: ignore[assignment]
    row.discounts_cents = to_cents(figures.discounts)  # type: ignore[assignment]
    row.net_cents = to_cents(figures.net)  # type: ignore[assignment]
    row.status, row.source, row.source_detail = status, source, source_detail
    row.updated_at = utcnow()
    s.add(row)
    return row


def declaration_json(row: MetricDeclaration) -> dict[str, Any]:
    """A declaration as JSON (amounts as strings with two decimals)."""
    def amount(cents: int) -> str:
        return str(from_cents(cents))
    return {"vendor": row.vendor, "company_cnpj": row.company_cnpj, "year": row.year,
            "gross_revenue": amount(row.gross_cents),
            "cancellations": amount(row.cancellations_cents), "taxes": amount(row.taxes_cents),
            "discounts": amount(row.discounts_cents), "net_revenue": amount(row.net_cents),
            "status": row.status, "source": row.source, "source_detail": row.source_detail}


@dataclass
class Proof:
    """Where a contract's proof stands for a year: declared, concluded, missing companies."""

    vendor: str
    year: int
    companies: list[str]
    declarations: dict[str, MetricDeclaration] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Companies of the group with no declaration."""
        return [c for c in self.companies if c not in self.declarations]

    @property
    def drafts(self) -> list[str]:
        """Companies whose declaration is still a draft."""
        return [c for c, d in self.declarations.items() if d.status != "concluded"]

    @property
    def complete(self) -> bool:
        """Every company of the group declared and concluded."""
        return bool(self.companies) and not self.missing and not self.drafts

    @property
    def metric(self) -> Decimal:
        """The group's summed net revenue."""
        return sum((from_cents(d.net_cents) or ZERO for d in self.declarations.values()), ZERO)


def proof(s: Session, contract: ContractConfig, year: int) -> Proof:
    """The declarations of a contract's group (contract.companies) for one year."""
    rows = s.exec(select(MetricDeclaration).where(
        MetricDeclaration.vendor == contract.vendor, MetricDeclaration.year == year,
        MetricDeclaration.company_cnpj.in_(contract.companies))).all()  # type: ignore[attr-defined]
    return Proof(contract.vendor, year, list(contract.companies),
                 {r.company_cnpj: r for r in rows})


def conclude(s: Session, contract: ContractConfig, year: int) -> Proof:
    """Conclude every declaration of the group; refused while a company is missing."""
    p = proof(s, contract, year)
    if not p.companies:
        raise DeclarationError(f"contract {contract.number} lists no companies: set "
                               "contracts.companies in the configuration")
    if p.missing:
        raise DeclarationError(f"contract {contract.number}, {year}: no declaration yet for "
                               f"{', '.join(p.missing)}")
    for row in p.declarations.values():
        row.status, row.updated_at = "concluded", utcnow()
        s.add(row)
    return p


@dataclass(frozen=True)
class MetricExpectation:
    """The fee a metric contract should bill, and how it was found (or why it cannot be)."""

    year: int
    metric: Decimal | None
    band: int | None
    fee: Decimal | None
    complete: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        """For `confere reconcile --json`."""
        return {"year": self.year, "net_revenue": None if self.metric is None
                else str(self.metric.quantize(Decimal("0.01"))), "band": self.band,
                "fee": None if self.fee is None else str(self.fee.quantize(Decimal("0.01"))),
                "proof_complete": self.complete}


def expected_fee(s: Session, contract: ContractConfig, month: str) -> MetricExpectation:
    """The contract's band and fee from the group's concluded declarations."""
    year = int(month[:4]) - contract.metric_year_offset
    if not contract.companies:
        return MetricExpectation(year, None, None, None, False,
                                 f"contract {contract.number} lists no companies "
                                 "(contracts.companies)")
    p = proof(s, contract, year)
    if p.missing or p.drafts:
        parts = []
        if p.missing:
            parts.append(f"no declaration for {', '.join(p.missing)}")
        if p.drafts:
            parts.append(f"not concluded for {', '.join(p.drafts)}")
        return MetricExpectation(year, None, None, None, False,
                                 f"proof of {year} incomplete: {'; '.join(parts)} "
                                 "(`confere metrics declare` / `import-ecf`, then conclude)")
    metric = p.metric
    if not contract.metric_bands:
        return MetricExpectation(year, metric, None, None, True,
                                 f"no metric_bands configured for contract {contract.number}")
    for number, band in enumerate(contract.metric_bands, start=1):
        if band.upto is None or metric <= band.upto:
            return MetricExpectation(year, metric, number, band.fee, True,
                                     f"net revenue {metric:,.2f} of {year} in band {number}, "
                                     f"fee {band.fee}")
    return MetricExpectation(year, metric, None, None, True,
                             f"net revenue {metric:,.2f} of {year} is above every metric band")
