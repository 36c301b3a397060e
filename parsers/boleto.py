"""Boleto de cobranca math: barcode and linha digitavel, check digits, due date, amount."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from parsers.errors import NotABoletoError, ParseError
from parsers.text import only_digits

FACTOR_BASE = date(1997, 10, 7)
_CYCLE = 9000  # factors 1000..9999 repeat every 9,000 days since 2025-02-22


@dataclass(frozen=True)
class Boleto:
    """A boleto read from its printed line and/or its barcode."""

    digitable_line: str | None
    barcode: str
    bank_code: str
    currency: str
    due_factor: int
    due_date: date | None
    amount: Decimal
    check_digits_ok: bool
    check_digit_problems: tuple[str, ...]


digits = only_digits  # the boleto math's name for it


def mod10(number: str) -> int:
    """Mod 10 check digit: weights 2,1,2,1... from the right, digits of products summed."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        p = int(ch) * (2 if i % 2 == 0 else 1)
        total += p // 10 + p % 10
    return (10 - total % 10) % 10


def mod11_general(number43: str) -> int:
    """The barcode's general check digit (position 5): mod 11, weights 2..9; 0/10/11 -> 1."""
    total = 0
    for i, ch in enumerate(reversed(number43)):
        total += int(ch) * (2 + i % 8)
    dv = 11 - total % 11
    return 1 if dv in (0, 10, 11) else dv


def barcode_from_line(line: str) -> str:
    """The 44-digit barcode that a 47-digit linha digitavel encodes."""
    L = digits(line)
    if len(L) != 47:
        raise ParseError(f"a linha digitavel has 47 digits, got {len(L)}")
    return L[0:4] + L[32] + L[33:47] + L[4:9] + L[10:20] + L[21:31]


def line_from_barcode(barcode: str) -> str:
    """The 47-digit linha digitavel for a 44-digit barcode (check digits computed)."""
    b = digits(barcode)
    if len(b) != 44:
        raise ParseError(f"a boleto barcode has 44 digits, got {len(b)}")
    f1 = b[0:4] + b[19:24]
    f2 = b[24:34]
    f3 = b[34:44]
    return (f1 + str(mod10(f1)) + f2 + str(mod10(f2)) + f3 + str(mod10(f3))
            + b[4] + b[5:19])


def format_line(line: str) -> str:
    """Punctuate a linha digitavel the way banks print it."""
    L = digits(line)
    return f"{L[0:5]}.{L[5:10]} {L[10:15]}.{L[15:21]} {L[21:26]}.{L[26:32]} {L[32]} {L[33:]}"


def build_barcode(bank: str, due: date | None, amount: Decimal, free_field: str,
                  currency: str = "9") -> str:
    """Assemble a valid 44-digit barcode (used by the fixture generator and tests)."""
    factor = 0 if due is None else due_factor_for(due)
    cents = int((amount * 100).to_integral_value())
    if len(free_field) != 25 or not free_field.isdigit():
        raise ValueError("the free field has 25 digits")
    body = f"{bank:>03}{currency}{factor:04d}{cents:010d}{free_field}"
    dv = mod11_general(body)
    return body[:4] + str(dv) + body[4:]


def due_factor_for(due: date) -> int:
    """The due-date factor for a date, after the 2025 rollover where it applies."""
    days = (due - FACTOR_BASE).days
    while days > 9999:
        days -= _CYCLE
    if days < 1000:
        raise ValueError(f"{due} has no due-date factor")
    return days


def due_date_candidates(factor: int) -> list[date]:
    """Every date a factor can mean since 1997 (it restarts at 1000 after 2025-02-21)."""
    if factor == 0:
        return []
    return [FACTOR_BASE + timedelta(days=factor + _CYCLE * k) for k in range(0, 4)]


def due_date_from_factor(factor: int, reference: date | None = None,
                         hints: Iterable[date] = ()) -> date | None:
    """The due date of a factor.

    A candidate that a hint names (the due date the email's body states) wins; otherwise the
    candidate 3,000 days before to 5,500 after the reference (the email's date). A reference
    before factors existed or over a year ahead (a Date header the sender set decades off)
    says nothing: today stands in.
    """
    if factor == 0:
        return None
    candidates = due_date_candidates(factor)
    wanted = set(hints)
    named = [c for c in candidates if c in wanted]
    if named:
        return named[0]
    today = date.today()
    plausible = reference is not None and FACTOR_BASE <= reference <= today + timedelta(366)
    ref = reference if plausible and reference is not None else today
    for cand in candidates:
        delta = (cand - ref).days
        if -3000 <= delta <= 5500:
            return cand
    return min(candidates, key=lambda c: abs((c - ref).days))


def is_arrecadacao(code: str) -> bool:
    """Arrecadacao slips (utilities, taxes) start with 8 and are 44 or 48 digits."""
    d = digits(code)
    return len(d) in (44, 48) and d.startswith("8")


def line_problems(line: str) -> list[str]:
    """Every check digit of a printed line that does not hold, in words."""
    L = digits(line)
    problems = []
    for name, body, dv in (("field 1", L[0:9], L[9]), ("field 2", L[10:20], L[20]),
                           ("field 3", L[21:31], L[31])):
        if str(mod10(body)) != dv:
            problems.append(f"{name} check digit is {dv}, expected {mod10(body)}")
    problems.extend(barcode_problems(barcode_from_line(L)))
    return problems


def barcode_problems(barcode: str) -> list[str]:
    """The barcode's general check digit, in words, if it does not hold."""
    b = digits(barcode)
    expected = mod11_general(b[:4] + b[5:])
    if str(expected) != b[4]:
        return [f"general check digit is {b[4]}, expected {expected}"]
    return []


def parse(code: str, reference: date | None = None, hints: Iterable[date] = ()) -> Boleto:
    """Read a 47-digit line or a 44-digit barcode; raise for anything else.

    reference (the email's date) and hints (due dates the email states) resolve the factor.
    """
    d = digits(code)
    if is_arrecadacao(d):
        raise NotABoletoError(
            "this is an arrecadacao slip (starts with 8), not a boleto de cobranca")
    if len(d) == 47:
        line: str | None = d
        barcode = barcode_from_line(d)
        problems = line_problems(d)
    elif len(d) == 44:
        line = line_from_barcode(d)  # derived (its check digits computed), for a person to type
        barcode = d
        problems = barcode_problems(d)
    else:
        raise ParseError(f"expected 47 (line) or 44 (barcode) digits, got {len(d)}")
    factor = int(barcode[5:9])
    return Boleto(
        digitable_line=line,
        barcode=barcode,
        bank_code=barcode[0:3],
        currency=barcode[3],
        due_factor=factor,
        due_date=due_date_from_factor(factor, reference, hints),
        amount=Decimal(int(barcode[9:19])) / 100,
        check_digits_ok=not problems,
        check_digit_problems=tuple(problems),
    )


def is_valid_barcode(barcode: str) -> bool:
    """A decoded ITF string is accepted only if it is 44 digits and its check digit holds."""
    d = digits(barcode)
    return len(d) == 44 and d.isdigit() and not d.startswith("8") and not barcode_problems(d)
