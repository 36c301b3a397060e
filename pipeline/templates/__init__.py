"""Jinja2 templates of alert emails and reports; their pt-BR filters come from pipeline.locale."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from pipeline.locale import format as fmt
from pipeline.locale.format import ZONE as SAO_PAULO
from pipeline.locale.format import decimal_comma

__all__ = ["SAO_PAULO", "brl", "data", "decimal_comma", "environment", "mes", "mes_extenso",
           "render"]


def brl(value: int | Decimal | None, *, cents: bool = True, sign: bool = False) -> str:
    """Money the Brazilian way: R$ 1.234,56 (integer centavos by default)."""
    return fmt.money(value, cents=cents, sign=sign)


def data(value: date | datetime | None) -> str:
    """A date as dd/mm/aaaa (an aware timestamp on the São Paulo calendar)."""
    return fmt.day(value)


def mes(value: str | None) -> str:
    """A YYYY-MM month as MM/AAAA."""
    return fmt.month(value)


def mes_extenso(value: str | None) -> str:
    """A YYYY-MM month in words: março de 2026."""
    return fmt.month_words(value)


def _autoescape(name: str | None) -> bool:
    return name is not None and ".html" in name


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment: HTML templates autoescaped, undefined names an error."""
    env = Environment(loader=PackageLoader("pipeline", "templates"), autoescape=_autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(brl=brl, data=data, mes=mes, mes_extenso=mes_extenso,
                       decimal_comma=decimal_comma, numero=fmt.number, momento=fmt.moment,
                       linha=fmt.digitable_line)
    return env


def render(name: str, **context: object) -> str:
    """Render one template by file name."""
    return environment().get_template(name).render(**context)
