"""Text helpers every parser and stage shares: only the digits, accents off, folded for matching."""

from __future__ import annotations

import re
import unicodedata

_NOT_DIGIT = re.compile(r"\D")


def only_digits(text: str | None) -> str:
    """The digits of a string, in order ('261.074' -> '261074'; None -> '')."""
    return _NOT_DIGIT.sub("", text or "")


def strip_accents(text: str) -> str:
    """The text without its accents and other combining marks ('Declaração' -> 'Declaracao')."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower case, accents removed, whitespace folded: what label patterns match against."""
    return " ".join(strip_accents(text).lower().split())
