"""Amounts written as text (XML, PDF, ECF, the command line) read as Decimal, one way.

Formatting money for people (R$ 1.234,56) is not here: that is the presentation's concern.
"""

from __future__ import annotations

import re
from decimal import Decimal

from parsers.errors import ParseError

CENTS = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 12  # no bill reaches a trillion reais: larger is a misread
# The ways an amount is written, tried in order; the first that matches the whole text wins.
_FORMS = (
    re.compile(r"(?P<sign>[+-]?)(?P<int>\d+)(?:[.,](?P<frac>\d+))?"),  # 1234.56, 1234,56, 2.5000
    re.compile(r"(?P<sign>[+-]?)(?P<int>\d{1,3}(?:\.\d{3})+)(?:,(?P<frac>\d+))?"),  # 1.234,56
    re.compile(r"(?P<sign>[+-]?)(?P<int>\d{1,3}(?:,\d{3})+)(?:\.(?P<frac>\d+))?"),  # 1,234.56
)


def parse_amount(text: str, *, places: int | None = None) -> Decimal:
    """'1234.56', '1234,56', '1.234,56', '1,234.56' or '12.000.000,00' as an exact Decimal.

    A lone separator is the decimal point (machine files write '2.5000'); grouped thousands
    take the other separator for decimals. places: refuse more decimals than this. Raises
    ParseError for anything else (exponents, NaN, irregular groups, words).
    """
    t = text.strip().replace(" ", "")
    for form in _FORMS:
        match = form.fullmatch(t)
        if match is not None:
            break
    else:
        raise ParseError(f"{text!r} is not an amount")
    frac = match["frac"] or ""
    if places is not None and len(frac) > places:
        raise ParseError(f"{text!r} is not an amount (more than {places} decimal places)")
    whole = match["int"].replace(".", "").replace(",", "")
    return Decimal(f"{match['sign']}{whole}.{frac}" if frac else f"{match['sign']}{whole}")


def parse_money(text: str) -> Decimal:
    """An amount on a bill: parse_amount to centavos, refused when implausibly large."""
    amount = parse_amount(text)
    if abs(amount) >= MAX_AMOUNT:
        raise ParseError(f"{text!r} is not a plausible amount")
    return amount.quantize(CENTS)
