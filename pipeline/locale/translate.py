"""gettext for people-facing strings: English message ids, one catalogue per language.

The catalogues live in pipeline/locale/<lang>/LC_MESSAGES/confere.po and are compiled to .mo
(`pybabel compile -d pipeline/locale -D confere`, committed and shipped as package data), so
another language is one more catalogue. pt_BR is the default: it is what the finance team reads.
"""

from __future__ import annotations

import gettext as _gettext
from functools import lru_cache
from pathlib import Path

DOMAIN = "confere"
LOCALE_DIR = Path(__file__).parent
DEFAULT_LANGUAGE = "pt_BR"


@lru_cache(maxsize=8)
def catalogue(language: str = DEFAULT_LANGUAGE) -> _gettext.NullTranslations:
    """The compiled catalogue of a language (English, untranslated, when there is none)."""
    return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language],
                                fallback=True)


def _(message: str, **values: object) -> str:
    """Translate a message id into the default language and fill its %(name)s values."""
    text = catalogue().gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """The singular or plural form for n, translated, with n among the values."""
    text = catalogue().ngettext(singular, plural, n)
    return text % {"n": n, **values}
