"""Price tables as versioned data, the billable rule, and months in America/Sao_Paulo."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from parsers.errors import ConfigError
from parsers.months import SAO_PAULO, month_bounds

if TYPE_CHECKING:
    from pipeline.config.settings import Config, ContractConfig

CENT = Decimal("0.01")
Mode = Literal["band", "progressive"]

# The billed type follows the last path segment (DOMAIN.md section 1).
PATH_TYPES = {"consultar": "consulta", "emitir": "emissao", "declarar": "declaracao",
              "apoiar": "apoiar", "monitorar": "monitorar"}
USAGE_TYPES = ("consulta", "emissao", "declaracao", "apoiar", "monitorar")
FREE_TYPES = frozenset({"apoiar", "monitorar"})
# SERPRO's FAQ: answers with 200, 202 or 403 are billed (a 403 for a missing procuracao too).
BILLABLE_STATUSES = frozenset({200, 202, 403})


def type_from_path(path: str) -> str | None:
    """`/integra-contador/v1/Consultar` -> `consulta`; None when not an Integra Contador verb."""
    last = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    return PATH_TYPES.get(last)


def is_billable(usage_type: str, status: int) -> bool:
    """SERPRO bills 200 / 202 / 403 answers of Consultar, Emitir and Declarar; the rest is free."""
    return usage_type not in FREE_TYPES and status in BILLABLE_STATUSES


@dataclass(frozen=True)
class Band:
    """One band: requests number `lower`..`upper` (None = no limit) at `price` each."""

    number: int
    lower: int
    upper: int | None
    price: Decimal


@dataclass(frozen=True)
class Priced:
    """What one type's monthly count costs, and why."""

    type: str
    count: int
    band: int | None
    unit_price: Decimal | None
    amount: Decimal


@dataclass(frozen=True)
class PriceTable:
    """A vendor's per-request prices, valid from a date; each type has its own bands."""

    name: str
    vendor: str
    valid_from: date
    source: str
    free: frozenset[str]
    types: dict[str, tuple[Band, ...]]

    def band_for(self, usage_type: str, count: int) -> Band | None:
        """The band a monthly count of this type reaches (None for zero or unpriced types)."""
        if count <= 0:
            return None
        for band in self.types.get(usage_type, ()):
            if band.upper is None or count <= band.upper:
                return band
        return None

    def price(self, usage_type: str, count: int, mode: Mode = "band") -> Priced:
        """Cost of `count` requests: band mode prices all at the band reached, progressive each."""
        band = self.band_for(usage_type, count)
        if band is None:
            return Priced(usage_type, count, None, None, Decimal("0.00"))
        if mode == "band":
            amount = count * band.price
        else:
            amount = Decimal(0)
            for b in self.types[usage_type]:
                if count < b.lower:
                    break
                top = count if b.upper is None else min(count, b.upper)
                amount += (top - b.lower + 1) * b.price
        return Priced(usage_type, count, band.number, band.price, amount.quantize(CENT))

    def bill(self, counts: dict[str, int], mode: Mode = "band") -> tuple[Decimal, list[Priced]]:
        """The whole month: total and one line per priced type (zero counts included)."""
        lines = [self.price(t, counts.get(t, 0), mode) for t in self.types]
        return sum((p.amount for p in lines), Decimal("0.00")), lines


def parse_table(data: dict[str, Any], source: str) -> PriceTable:
    """Validate a price table read from TOML; errors name the file and the key."""
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {problem}")

    for key in ("name", "vendor", "valid_from", "types"):
        if key not in data:
            raise fail(key, "missing")
    valid_from = data["valid_from"]
    if isinstance(valid_from, str):
        try:
            valid_from = date.fromisoformat(valid_from)
        except ValueError:
            raise fail("valid_from", f"{valid_from!r} is not a date (YYYY-MM-DD)") from None
    if not isinstance(valid_from, date):
        raise fail("valid_from", "must be a date such as 2025-12-06")
    types: dict[str, tuple[Band, ...]] = {}
    for tname, spec in data["types"].items():
        if tname not in USAGE_TYPES:
            raise fail(f"types.{tname}", f"unknown type (known: {', '.join(USAGE_TYPES)})")
        bands: list[Band] = []
        lower = 1
        rows = spec.get("bands") if isinstance(spec, dict) else None
        if not rows:
            raise fail(f"types.{tname}.bands", "missing or empty")
        for i, row in enumerate(rows):
            key = f"types.{tname}.bands[{i}]"
            try:
                price = Decimal(str(row["price"]))
            except (KeyError, InvalidOperation):
                raise fail(f"{key}.price", "missing or not a number such as \"0.24\"") from None
            upper = row.get("upto")
            last = i == len(rows) - 1
            if upper is None and not last:
                raise fail(f"{key}.upto", "only the last band may leave `upto` out")
            if upper is not None and (not isinstance(upper, int) or upper < lower):
                raise fail(f"{key}.upto", f"must be a whole number >= {lower}")
            bands.append(Band(i + 1, lower, upper, price))
            lower = (upper or 0) + 1
        types[tname] = tuple(bands)
    return PriceTable(name=str(data["name"]), vendor=str(data["vendor"]), valid_from=valid_from,
                      source=str(data.get("source", source)),
                      free=frozenset(data.get("free", FREE_TYPES)), types=types)


def _read(text: str, source: str) -> PriceTable:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    return parse_table(data, source)


@cache
def builtin_tables() -> dict[str, PriceTable]:
    """The tables shipped in pipeline/config/prices/, by name (read once; do not mutate)."""
    out: dict[str, PriceTable] = {}
    for entry in resources.files("pipeline.config.prices").iterdir():
        if entry.name.endswith(".toml"):
            table = _read(entry.read_text("utf-8"), f"pipeline/config/prices/{entry.name}")
            out[table.name] = table
    return out


def load_tables(config: Config) -> dict[str, PriceTable]:
    """Built-in tables plus the user's (`price_tables = [...]` files); a user table wins."""
    tables = dict(builtin_tables())
    for i, name in enumerate(config.settings.price_tables):
        path = (config.base_dir / name).resolve()
        try:
            text = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"{config.source}: price_tables[{i}]: cannot read {path}: "
                              f"{exc.strerror}") from None
        table = _read(text, str(path))
        tables[table.name] = table
    return tables


def table_for(config: Config, contract: ContractConfig, month: str,
              tables: dict[str, PriceTable] | None = None) -> PriceTable | None:
    """The contract's named table, else the vendor's newest table valid in that month."""
    tables = tables if tables is not None else load_tables(config)
    if contract.price_table:
        if contract.price_table not in tables:
            raise ConfigError(f"{config.source}: contracts ({contract.number}): price_table "
                              f"{contract.price_table!r} is not a known table (known: "
                              f"{', '.join(sorted(tables))})")
        return tables[contract.price_table]
    _start, end = month_bounds(month)
    last_day = end.astimezone(SAO_PAULO).date().toordinal() - 1
    fitting = [t for t in tables.values() if t.vendor == contract.vendor
               and t.valid_from.toordinal() <= last_day]
    return max(fitting, key=lambda t: t.valid_from, default=None)
