"""The "Custos" page: the report's billed-vs-expected rows and chart, and the month's forecast."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session

from pipeline.config.settings import Config
from pipeline.costs.forecast import Forecast, forecast
from pipeline.reports.report import RECONCILE_WORDS, Report, build


@dataclass
class CostsView:
    """One year's report and the current month's forecasts."""

    year: str
    report: Report
    forecasts: list[Forecast]
    reconcile_words: dict[str, str]


def _year(ano: str | None, today: date) -> str:
    return ano if ano and ano.isdigit() and len(ano) == 4 else str(today.year)


def view(s: Session, config: Config, ano: str | None, today: date) -> CostsView:
    """What the page shows for a year (default: this one)."""
    year = _year(ano, today)
    report = build(s, config, year, today=today)
    now = datetime.combine(today, time(12), tzinfo=UTC)
    forecasts: list[Any] = []
    for contract in config.settings.contracts:
        fc = forecast(s, config, contract, now=now)
        if fc is not None:
            forecasts.append(fc)
    return CostsView(year, report, forecasts, RECONCILE_WORDS)


def chart(s: Session, config: Config, ano: str | None, today: date) -> str:
    """The year's billed-vs-expected chart (pipeline.reports.charts) as an SVG document."""
    from pipeline.reports.charts import billed_vs_expected_svg

    report = build(s, config, _year(ano, today), today=today)
    svg = billed_vs_expected_svg(report.months, report.billed, report.expected)
    # A standalone image needs its own size (the page's CSS scales it): the viewBox's.
    match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg[:500])
    if match:
        svg = svg.replace(' width="100%"', f' width="{match[1]}" height="{match[2]}"', 1)
    return svg
