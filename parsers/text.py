"""Text helpers every parser and stage shares: only the digits, accents off, folded for matching."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NOT_DIGIT = re.compile(r"\D")


def only_digits(text: str | None) -> str:
    """The digits of a string, in order ('261.074' -> '261074'; None -> '')."""
    return _NOT_DIGIT.sub("", text or "")


class _Marks(dict[int, int | None]):
    """str.translate's table dropping combining marks, each code point looked up once."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_MARKS = _Marks()


def strip_accents(text: str) -> str:
    """The text without its accents and other combining marks ('Declaração' -> 'Declaracao')."""
    decomposed = unicodedata.normalize("NFKD", text)
    # ASCII has no combining marks; otherwise a table, in C (a page's text: 2.5 ms -> 0.1 ms).
    return decomposed if decomposed.isascii() else decomposed.translate(_MARKS)


@lru_cache(maxsize=16)
def fold(text: str) -> str:
    """Lower case, accents removed, whitespace folded: what label patterns match against
    (a PDF's text is folded once, however many readers test it)."""
    return " ".join(strip_accents(text).lower().split())
