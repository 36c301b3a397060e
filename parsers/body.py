"""Body fields (due date, contract, reference month) by label patterns that vendors supply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from parsers.text import fold, only_digits

MONTHS = {
    "janeiro": 1, "fevereiro": 2, "marco": 3, "abril": 4, "maio": 5, "junho": 6,
    "julho": 7, "agosto": 8, "setembro": 9, "outubro": 10, "novembro": 11, "dezembro": 12,
    "jan": 1, "fev": 2, "mar": 3, "abr": 4, "mai": 5, "jun": 6, "jul": 7, "ago": 8,
    "set": 9, "out": 10, "nov": 11, "dez": 12,
}
_MONTH_WORD = "|".join(sorted(MONTHS, key=len, reverse=True))
# Value shapes a label pattern may name as {date}, {month} or {contract}.
MACROS = {
    "date": rf"(?P<value>\d{{1,2}}\s*[/.-]\s*\d{{1,2}}\s*[/.-]\s*\d{{4}}"
            rf"|\d{{1,2}}\s+de\s+(?:{_MONTH_WORD})\s+de\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})",
    "month": rf"(?P<value>\d{{1,2}}\s*[/.-]\s*\d{{4}}|(?:{_MONTH_WORD})\s*(?:/|de|-)?\s*\d{{4}}"
             rf"|\d{{4}}-\d{{2}})",
    "contract": r"(?P<value>[0-9][0-9./-]*[0-9]|[0-9])",
}


@dataclass(frozen=True)
class BodyPatterns:
    """Label regexes per field; each uses {date}, {month} or {contract} for the value."""

    contract: tuple[str, ...]
    reference_month: tuple[str, ...]
    due_date: tuple[str, ...]


@dataclass(frozen=True)
class BodyFields:
    """What the email body says about the bill; None where no label matched."""

    contract_number: str | None
    reference_month: str | None  # YYYY-MM
    due_date: date | None


@lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    expanded = pattern
    for name, shape in MACROS.items():
        expanded = expanded.replace("{" + name + "}", shape)
    return re.compile(expanded, re.IGNORECASE)


def compile_check(pattern: str) -> str | None:
    """None when a user's pattern compiles and captures a value, else what is wrong."""
    try:
        rx = _compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    if "value" not in rx.groupindex:
        return "needs {date}, {month}, {contract} or a (?P<value>...) group"
    return None


def _first(text: str, patterns: tuple[str, ...]) -> str | None:
    for pattern in patterns:
        m = _compile(pattern).search(text)
        if m:
            return m.group("value")
    return None


def parse_date(value: str) -> date | None:
    """'20/11/2026', '20.11.2026', '2026-11-20' or '20 de novembro de 2026'."""
    v = fold(value)
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", v):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{4})", v):
            return date(int(m[3]), int(m[2]), int(m[1]))
        if m := re.fullmatch(rf"(\d{{1,2}}) de ({_MONTH_WORD}) de (\d{{4}})", v):
            return date(int(m[3]), MONTHS[m[2]], int(m[1]))
    except ValueError:
        return None
    return None


def parse_month(value: str) -> str | None:
    """'10/2026', 'outubro/2026', 'Outubro de 2026' or '2026-10' as 'YYYY-MM'."""
    v = fold(value)
    month = year = None
    if m := re.fullmatch(r"(\d{1,2})\s*[/.-]\s*(\d{4})", v):
        month, year = int(m[1]), int(m[2])
    elif m := re.fullmatch(r"(\d{4})-(\d{2})", v):
        year, month = int(m[1]), int(m[2])
    elif m := re.fullmatch(rf"({_MONTH_WORD})\s*(?:/|de|-)?\s*(\d{{4}})", v):
        month, year = MONTHS[m[1]], int(m[2])
    if month is None or year is None or not 1 <= month <= 12:
        return None
    return f"{year:04d}-{month:02d}"


def extract(text: str, patterns: BodyPatterns) -> BodyFields:
    """Pull the three fields out of a body (plain text, or HTML already turned to text)."""
    folded = fold(text)
    contract = _first(folded, patterns.contract)
    month = _first(folded, patterns.reference_month)
    due = _first(folded, patterns.due_date)
    return BodyFields(
        contract_number=only_digits(contract) if contract else None,
        reference_month=parse_month(month) if month else None,
        due_date=parse_date(due) if due else None,
    )
