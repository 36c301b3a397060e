"""Month arithmetic (parsers/months.py): YYYY-MM on the Sao Paulo calendar, across year ends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from parsers.months import (
    MonthCache,
    month_dates,
    month_key,
    month_of,
    parse_month,
    previous_month,
    shift_month,
)


def test_shifting_crosses_year_ends_both_ways():
    assert shift_month("2026-01", -1) == "2025-12"
    assert shift_month("2025-12", 1) == "2026-01"
    assert shift_month("2026-03", -11) == "2025-04"
    assert shift_month("2026-03", 0) == "2026-03"


def test_previous_month_of_a_day():
    assert previous_month(date(2026, 1, 15)) == "2025-12"
    assert previous_month(date(2026, 10, 1)) == "2026-09"


def test_month_dates_are_half_open():
    assert month_dates("2025-12") == (date(2025, 12, 1), date(2026, 1, 1))
    assert month_dates("2024-02") == (date(2024, 2, 1), date(2024, 3, 1))


def test_an_instant_belongs_to_the_sao_paulo_month():
    # 02:59 UTC on the 1st is still 23:59 of the last day in Sao Paulo (UTC-3).
    assert month_of(datetime(2026, 11, 1, 2, 59, tzinfo=UTC)) == "2026-10"
    assert month_of(datetime(2026, 11, 1, 3, 0, tzinfo=UTC)) == "2026-11"
    assert MonthCache().month(datetime(2026, 11, 1, 2, 59, tzinfo=UTC)) == "2026-10"
    with pytest.raises(ValueError):
        month_of(datetime(2026, 11, 1))  # naive: refused, never guessed


@pytest.mark.parametrize("bad", ["2026-13", "26-10", "2026/10", "outubro", "2026-00"])
def test_what_is_not_yyyy_mm_is_refused(bad):
    with pytest.raises(ValueError):
        parse_month(bad)


def test_month_key_of_a_date():
    assert month_key(date(2026, 3, 31)) == "2026-03"
