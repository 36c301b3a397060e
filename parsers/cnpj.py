"""CNPJ normalisation and check digits, numeric and the 2026 alphanumeric form."""

from __future__ import annotations

import re

_W1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_W2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_SHAPE = re.compile(r"[0-9A-Z]{12}[0-9]{2}")


def normalize(value: str) -> str:
    """Strip punctuation and upper-case: '33.683.111/0001-07' -> '33683111000107'."""
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def _dv(body: str, weights: tuple[int, ...]) -> int:
    total = sum((ord(ch) - 48) * w for ch, w in zip(body, weights, strict=True))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def check_digits(first12: str) -> str:
    """The two check digits for the first 12 characters of a CNPJ."""
    d1 = _dv(first12, _W1)
    d2 = _dv(first12 + str(d1), _W2)
    return f"{d1}{d2}"


def is_valid(value: str) -> bool:
    """True when the CNPJ has the right shape and both check digits hold."""
    c = normalize(value)
    if not _SHAPE.fullmatch(c) or len(set(c)) == 1:
        return False
    return check_digits(c[:12]) == c[12:]


def root(value: str) -> str:
    """The 8-character root shared by a company's head office and branches."""
    return normalize(value)[:8]


def same_company(a: str, b: str) -> bool:
    """Same root = same company."""
    return bool(a) and bool(b) and root(a) == root(b)


def format_cnpj(value: str) -> str:
    """Punctuate as XX.XXX.XXX/XXXX-XX for people."""
    c = normalize(value)
    if len(c) != 14:
        return value
    return f"{c[:2]}.{c[2:5]}.{c[5:8]}/{c[8:12]}-{c[12:]}"
