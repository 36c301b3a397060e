"""Mid-month: where this month's bill is heading, from the usage metered so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlmodel import Session

from parsers.months import month_bounds, month_of
from pipeline.config.settings import Config, ContractConfig
from pipeline.costs.pricing import Priced, table_for
from pipeline.costs.reconcile import count_usage, money


@dataclass(frozen=True)
class Forecast:
    """Counts so far, the projection to the month's end, and the budget's verdict."""

    contract: str
    month: str
    as_of: datetime
    elapsed: Decimal  # fraction of the month gone, 0..1
    so_far: Decimal
    projected: Decimal
    lines: tuple[Priced, ...]  # projected counts, priced
    counts_so_far: dict[str, int]
    budget: Decimal | None
    price_table: str

    @property
    def over_budget(self) -> bool | None:
        """True when the projection exceeds the contract's budget (None without a budget)."""
        return None if self.budget is None else self.projected > self.budget

    def to_json(self) -> dict[str, Any]:
        """For `confere usage forecast --json` and the current month in `reconcile --json`."""
        return {
            "contract": self.contract, "month": self.month, "as_of": self.as_of.isoformat(),
            "elapsed": str(self.elapsed.quantize(Decimal("0.0001"))),
            "amount_so_far": money(self.so_far), "projected_amount": money(self.projected),
            "budget": money(self.budget), "over_budget": self.over_budget,
            "price_table": self.price_table,
            "projection": [{"type": p.type, "count_so_far": self.counts_so_far.get(p.type, 0),
                            "projected_count": p.count, "band": p.band,
                            "unit_price": money(p.unit_price), "amount": money(p.amount)}
                           for p in self.lines],
        }


def forecast(s: Session, config: Config, contract: ContractConfig, month: str | None = None,
             now: datetime | None = None) -> Forecast | None:
    """Project a usage contract's month linearly from its counts so far (None: not applicable).

    A month already over is "projected" as what it was; a month not started has no forecast.
    """
    if contract.billing != "usage":
        return None
    now = now or datetime.now(UTC)
    month = month or month_of(now)
    start, end = month_bounds(month)
    if now <= start:
        return None
    elapsed = min(Decimal(1), Decimal(str((now - start) / (end - start))))
    table = table_for(config, contract, month)
    if table is None:
        return None
    counts, _free = count_usage(s, contract, month)
    projected_counts = {t: int((Decimal(n) / elapsed).to_integral_value(ROUND_HALF_UP))
                        for t, n in counts.items()}
    so_far, _ = table.bill(counts, contract.pricing_mode)
    projected, lines = table.bill(projected_counts, contract.pricing_mode)
    return Forecast(contract.number, month, now, elapsed, so_far, projected, tuple(lines),
                    counts, contract.budget, table.name)
