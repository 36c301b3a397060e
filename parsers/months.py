"""Months as the business counts them: YYYY-MM on the America/Sao_Paulo calendar.

Usage, bills, reconciliations, alerts and reports all name a month this way; the arithmetic
(the month of an instant, its bounds, the month before or after) lives here only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def parse_month(month: str) -> tuple[int, int]:
    """(year, month) of `YYYY-MM`; ValueError naming the problem otherwise."""
    try:
        year_s, mon_s = month.split("-")
        year, mon = int(year_s), int(mon_s)
    except ValueError:
        raise ValueError(f"{month!r} is not a month: use YYYY-MM, e.g. 2026-10") from None
    if len(year_s) != 4 or not 1 <= mon <= 12:
        raise ValueError(f"{month!r} is not a month: use YYYY-MM, e.g. 2026-10")
    return year, mon


def month_key(day: date) -> str:
    """The YYYY-MM month a calendar date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def month_of(moment: datetime) -> str:
    """The YYYY-MM month of an aware timestamp, in America/Sao_Paulo."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a time zone offset is required")
    return month_key(moment.astimezone(SAO_PAULO))


def shift_month(month: str, by: int) -> str:
    """The month `by` months after (negative: before) a YYYY-MM month."""
    year, mon = parse_month(month)
    y, m = divmod(year * 12 + mon - 1 + by, 12)
    return f"{y:04d}-{m + 1:02d}"


def previous_month(day: date) -> str:
    """The YYYY-MM month before the one `day` falls in."""
    return shift_month(month_key(day), -1)


def month_dates(month: str) -> tuple[date, date]:
    """[first day, first day of the next month) of a YYYY-MM month, as calendar dates."""
    year, mon = parse_month(month)
    return date(year, mon, 1), date(*parse_month(shift_month(month, 1)), 1)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a YYYY-MM month in America/Sao_Paulo, as UTC instants."""
    first, after = month_dates(month)
    start = datetime(first.year, first.month, 1, tzinfo=SAO_PAULO)
    end = datetime(after.year, after.month, 1, tzinfo=SAO_PAULO)
    return start.astimezone(UTC), end.astimezone(UTC)


def today_local() -> date:
    """Today's date in America/Sao_Paulo (the business's calendar)."""
    return datetime.now(SAO_PAULO).date()


class MonthCache:
    """YYYY-MM in America/Sao_Paulo of UTC instants, fast for runs of the same month."""

    def __init__(self) -> None:
        self._start = self._end = datetime.min.replace(tzinfo=UTC)
        self._month = ""

    def month(self, utc: datetime) -> str:
        """The local month of an aware UTC instant."""
        if not self._start <= utc < self._end:
            self._month = utc.astimezone(SAO_PAULO).strftime("%Y-%m")
            self._start, self._end = month_bounds(self._month)
        return self._month
