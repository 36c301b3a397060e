"""The report's chart: billed vs expected per month, drawn by matplotlib as inline SVG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

import matplotlib
from matplotlib.figure import Figure  # no pyplot: no display, no global figure state
from matplotlib.ticker import FuncFormatter

from pipeline.locale import format as fmt
from storage.types import from_cents

BILLED_COLOUR = "#1f6feb"
EXPECTED_COLOUR = "#f0883e"


def month_label(month: str) -> str:
    """2026-03 as mar/26."""
    return fmt.month_short(month)


def _axis_money(value: float, _pos: object) -> str:
    return "R$ " + fmt.number(round(value), places=0)


def _reais(cents: int | None) -> float:
    # The drawing edge: the only place money becomes a float, for pixel positions.
    amount = from_cents(cents)
    return float(amount) if amount is not None else 0.0


def billed_vs_expected_svg(months: Sequence[str], billed: Sequence[int | None],
                           expected: Sequence[int | None], *, title: str = "") -> str:
    """A grouped bar chart as an <svg> element (text as paths, no external references)."""
    with matplotlib.rc_context({"svg.hashsalt": "confere", "svg.fonttype": "path",
                                "font.family": "DejaVu Sans", "font.size": 10}):
        fig = Figure(figsize=(9.6, 3.8), dpi=100)
        ax = fig.subplots()
        xs = range(len(months))
        width = 0.4
        ax.bar([x - width / 2 for x in xs], [_reais(v) for v in billed], width,
               label="Cobrado", color=BILLED_COLOUR)
        has_expected = [v is not None for v in expected]
        ax.bar([x + width / 2 for x, ok in zip(xs, has_expected, strict=True) if ok],
               [_reais(v) for v in expected if v is not None], width,
               label="Esperado", color=EXPECTED_COLOUR)
        ax.set_xticks(list(xs), [month_label(m) for m in months])
        ax.yaxis.set_major_formatter(FuncFormatter(_axis_money))
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", color="#d0d7de", linewidth=0.6)
        ax.set_axisbelow(True)
        if title:
            ax.set_title(title, loc="left", fontsize=11)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    # Scale with the page: drop the fixed size, keep the viewBox.
    head, rest = svg.split(">", 1)
    head = " ".join(p for p in head.split(" ")
                    if not p.startswith(("width=", "height="))) + ' width="100%"'
    return head + ">" + rest


def total(values: Sequence[int | None]) -> Decimal:
    """Sum of centavos values as reais (None counts as nothing)."""
    return from_cents(sum(v for v in values if v is not None)) or Decimal(0)
