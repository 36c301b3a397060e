"""Money, numbers, dates, months and times as a finance person reads them, through Babel.

The one home of people-facing formatting: templates, the CLI's tables, reports and alerts call
these instead of hand-made `replace(",", ".")` tricks. English output (logs, the JSON contract)
never goes through here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

from parsers.boleto import digits, format_line
from storage.types import from_cents

LOCALE = "pt_BR"
ZONE = ZoneInfo("America/Sao_Paulo")
ZONE_MARK = "(horário de Brasília)"
NBSP = "\u00a0"


def _plain(text: str) -> str:
    # Babel separates "R$" with a no-break space; emails, CSV readers and tests want a space.
    return text.replace(NBSP, " ").replace("\u202f", " ")


def _amount(value: int | Decimal | str | None, cents: bool) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and cents:
        return from_cents(value)
    return Decimal(value)


def money(value: int | Decimal | str | None, *, cents: bool = True, sign: bool = False,
          empty: str = "-") -> str:
    """R$ 1.234,56; integer centavos by default, a Decimal or "1234.56" string as reais."""
    amount = _amount(value, cents)
    if amount is None:
        return empty
    text = _plain(format_currency(abs(amount), "BRL", locale=LOCALE))
    prefix = "-" if amount < 0 else ("+" if sign and amount > 0 else "")
    return f"{prefix}{text}"


def number(value: int | Decimal | str | None, *, places: int | None = None,
           empty: str = "-") -> str:
    """1.000.000 or 1.234,5 (with `places`, exactly that many decimals: 0,50)."""
    if value is None or value == "":
        return empty
    amount = Decimal(value)
    if places is None:
        return _plain(format_decimal(amount, locale=LOCALE))
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return _plain(format_decimal(amount, format=pattern, locale=LOCALE))


def decimal_comma(cents: int | None) -> str:
    """Centavos as 1234,56 (no grouping): what a pt-BR spreadsheet reads as a number."""
    amount = from_cents(cents)
    if amount is None:
        return ""
    return _plain(format_decimal(amount, format="0.00", locale=LOCALE))


def _day(value: date | datetime | str | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(ZONE).date() if value.tzinfo is not None else value.date()
    return value


def day(value: date | datetime | str | None, *, empty: str = "-") -> str:
    """dd/mm/aaaa; an aware timestamp on the São Paulo calendar; ISO text accepted."""
    d = _day(value)
    return empty if d is None else format_date(d, "dd/MM/yyyy", locale=LOCALE)


def _month_date(value: str | date | None) -> date | None:
    if not value:
        return None
    if isinstance(value, date):
        return value.replace(day=1)
    year, month = value[:7].split("-")
    return date(int(year), int(month), 1)


def month(value: str | date | None, *, empty: str = "-") -> str:
    """A YYYY-MM month as MM/AAAA."""
    d = _month_date(value)
    return empty if d is None else format_date(d, "MM/yyyy", locale=LOCALE)


def month_words(value: str | date | None, *, empty: str = "-") -> str:
    """A YYYY-MM month in words: outubro de 2026."""
    d = _month_date(value)
    return empty if d is None else format_date(d, "MMMM 'de' yyyy", locale=LOCALE)


def month_short(value: str | date | None, *, empty: str = "-") -> str:
    """A YYYY-MM month for a chart axis: out/26."""
    d = _month_date(value)
    if d is None:
        return empty
    abbr = format_date(d, "MMM", locale=LOCALE).rstrip(".")
    return f"{abbr}/{d:%y}"


def moment(value: datetime | str | None, *, empty: str = "-") -> str:
    """A timestamp as dd/mm/aaaa hh:mm on São Paulo's clock, saying so (naive means UTC)."""
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    text = format_datetime(value, "dd/MM/yyyy HH:mm", tzinfo=ZONE, locale=LOCALE)
    return f"{text} {ZONE_MARK}"


def digitable_line(value: str | None, *, empty: str = "-") -> str:
    """A boleto's 47 digits in the printed groups: 00000.00000 00000.000000 ... (else as is)."""
    if not value:
        return empty
    return format_line(value) if len(digits(value)) == 47 else value


def yes(answer: str | None) -> bool:
    """Whether a typed answer means yes: y, yes, s, sim (any case)."""
    return (answer or "").strip().lower() in {"y", "yes", "s", "sim"}
