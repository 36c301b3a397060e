"""ECF (SPED Escrituracao Contabil Fiscal): the company, the year and its revenue figures.

Reads records 0000 (company, period), 0010 (FORMA_TRIB), the period blocks L030 / P030 /
U030 and the income statements L300 (Lucro Real), P150 (Presumido) and U150 (Imune/Isenta).
Gross revenue is account 3.01.01.01.01 and its deductions 3.01.01.01.02; the annual block
(A00) is used when present, else the quarters T01-T04 are summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from parsers import cnpj as cnpj_rules
from parsers.errors import EcfError, ParseError
from parsers.money import parse_amount
from parsers.text import strip_accents

GROSS = "3.01.01.01.01"
DEDUCTIONS = "3.01.01.01.02"
STATEMENTS = {"L300": "L030", "P150": "P030", "U150": "U030"}
REGIMES = {"1": "lucro real", "2": "lucro real/arbitrado", "3": "lucro presumido/real",
           "4": "lucro presumido/real/arbitrado", "5": "lucro presumido", "6": "lucro arbitrado",
           "7": "lucro presumido/arbitrado", "8": "imune", "9": "isento"}
KIND_WORDS = (("cancellations", ("CANCEL", "DEVOLU")), ("discounts", ("DESCONTO", "ABATIMENTO")),
              ("taxes", ("IMPOSTO", "TRIBUT", "ICMS", "ISS", "PIS", "COFINS", "IPI", "CONTRIBUI")))




@dataclass(frozen=True)
class EcfAccount:
    """One line of an income statement (L300 / P150 / U150) in one period."""

    register: str
    period: str
    code: str
    description: str
    kind: str  # S synthetic, A analytic
    level: int | None
    parent: str
    value: Decimal
    indicator: str  # D or C


@dataclass(frozen=True)
class DeductionLine:
    """A sub-account of the deductions, classified by its description."""

    code: str
    description: str
    amount: Decimal
    kind: str  # cancellations | taxes | discounts


@dataclass(frozen=True)
class EcfFile:
    """What a declaration needs from one company's ECF."""

    cnpj: str
    name: str
    start: date
    end: date
    layout_version: str
    rectifying: bool
    forma_trib: str | None
    regime: str | None
    statement: str  # L300 | P150 | U150
    periods: tuple[str, ...]  # A00, or the quarters summed
    gross_revenue: Decimal
    deductions: Decimal
    deduction_lines: tuple[DeductionLine, ...]
    accounts: tuple[EcfAccount, ...]

    @property
    def year(self) -> int:
        """The calendar year the file covers (DT_FIN's)."""
        return self.end.year


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _date(text: str, where: str) -> date:
    try:
        return date(int(text[4:8]), int(text[2:4]), int(text[0:2]))
    except (ValueError, IndexError):
        raise EcfError(f"{where}: {text!r} is not a date (ddmmyyyy)") from None


def _amount(text: str, where: str) -> Decimal:
    try:
        return parse_amount(text) if text.strip() else Decimal(0)
    except ParseError:
        raise EcfError(f"{where}: {text!r} is not an amount") from None


def _kind(description: str) -> str | None:
    folded = strip_accents(description.upper())
    for kind, words in KIND_WORDS:
        if any(w in folded for w in words):
            return kind
    return None


def parse_ecf(data: bytes) -> EcfFile:
    """Parse an ECF file (Latin-1 or UTF-8); EcfError says what is missing."""
    head: list[str] | None = None
    forma: str | None = None
    period = ""
    accounts: list[EcfAccount] = []
    for number, raw in enumerate(_decode(data).splitlines(), start=1):
        line = raw.strip()
        if not line.startswith("|"):
            continue
        f = line.split("|")
        reg = f[1] if len(f) > 1 else ""
        if reg == "9999":
            break  # the file's digital signature follows
        where = f"line {number} ({reg})"
        if reg == "0000":
            if len(f) < 13 or f[2] != "LECF":
                raise EcfError(f"{where}: not an ECF header (|0000|LECF|...)")
            head = f
        elif reg == "0010" and len(f) > 5:
            forma = f[5].strip() or None
        elif reg in ("L030", "P030", "U030") and len(f) > 4:
            period = f[4].strip()
        elif reg in STATEMENTS and len(f) > 9:
            level = f[5].strip()
            accounts.append(EcfAccount(reg, period, f[2].strip(), f[3].strip(), f[4].strip(),
                                       int(level) if level.isdigit() else None, f[7].strip(),
                                       _amount(f[8], where), f[9].strip().upper()))
    if head is None:
        raise EcfError("not an ECF file: no |0000|LECF| record")
    cnpj = cnpj_rules.normalize(head[4])
    start, end = _date(head[10], "0000 DT_INI"), _date(head[11], "0000 DT_FIN")
    gross_rows = [a for a in accounts if a.code == GROSS]
    if not gross_rows:
        raise EcfError(f"no gross revenue (account {GROSS}) in L300 / P150 / U150")
    annual = any(a.period == "A00" for a in gross_rows)
    # DOMAIN 8: the annual A00 block, else the four quarters (never monthly or other rows).
    periods = ("A00",) if annual else tuple(sorted(
        {a.period for a in gross_rows if a.period in ("T01", "T02", "T03", "T04")}))
    if not periods:
        raise EcfError(f"gross revenue (account {GROSS}) has no A00 nor T01-T04 period")
    chosen = [a for a in accounts if a.period in periods]

    def total(code: str) -> Decimal:
        return sum((abs(a.value) for a in chosen if a.code == code), Decimal(0))

    lines: dict[tuple[str, str], Decimal] = {}
    for a in chosen:
        if a.parent == DEDUCTIONS:
            kind = _kind(a.description)
            if kind:
                key = (a.code, a.description)
                lines[key] = lines.get(key, Decimal(0)) + abs(a.value)
    deduction_lines = tuple(DeductionLine(code, desc, amount, _kind(desc) or "taxes")
                            for (code, desc), amount in lines.items())
    return EcfFile(
        cnpj=cnpj, name=head[5].strip(), start=start, end=end, layout_version=head[3].strip(),
        rectifying=head[12].strip().upper() in ("S", "F"), forma_trib=forma,
        regime=REGIMES.get(forma or ""), statement=gross_rows[0].register, periods=periods,
        gross_revenue=total(GROSS), deductions=total(DEDUCTIONS),
        deduction_lines=deduction_lines, accounts=tuple(accounts))
