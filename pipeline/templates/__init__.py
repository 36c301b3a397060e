"""Jinja2 templates of alert emails and reports, and the pt-BR filters they use."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from parsers.months import SAO_PAULO
from storage.types import from_cents

MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto",
          "setembro", "outubro", "novembro", "dezembro")


def brl(value: int | Decimal | None, *, cents: bool = True, sign: bool = False) -> str:
    """Money the Brazilian way: R$ 1.234,56 (integer centavos by default)."""
    if value is None:
        return "-"
    amount = from_cents(value) if cents and isinstance(value, int) else Decimal(value)
    text = f"{abs(amount):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    prefix = "-" if amount < 0 else ("+" if sign and amount > 0 else "")
    return f"{prefix}R$ {text}"


def decimal_comma(cents: int | None) -> str:
    """Centavos as 1234,56 (no grouping): what a pt-BR spreadsheet reads as a number."""
    return "" if cents is None else f"{from_cents(cents):.2f}".replace(".", ",")


def data(value: date | datetime | None) -> str:
    """A date as dd/mm/aaaa (an aware timestamp on the São Paulo calendar)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(SAO_PAULO)
    return "-" if value is None else value.strftime("%d/%m/%Y")


def mes(value: str | None) -> str:
    """A YYYY-MM month as MM/AAAA."""
    if not value:
        return "-"
    year, month = value.split("-")
    return f"{month}/{year}"


def mes_extenso(value: str | None) -> str:
    """A YYYY-MM month in words: março de 2026."""
    if not value:
        return "-"
    year, month = value.split("-")
    return f"{MONTHS[int(month) - 1]} de {year}"


def _autoescape(name: str | None) -> bool:
    return name is not None and ".html" in name


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment: HTML templates autoescaped, undefined names an error."""
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=_autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(brl=brl, data=data, mes=mes, mes_extenso=mes_extenso,
                       decimal_comma=decimal_comma)
    return env


def render(name: str, **context: object) -> str:
    """Render one template by file name."""
    return environment().get_template(name).render(**context)
