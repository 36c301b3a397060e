"""Price tables: every band edge of DOMAIN.md's table, in band and progressive mode, by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from parsers.errors import ConfigError
from parsers.months import month_bounds, month_of
from pipeline.config import settings as config_mod
from pipeline.costs.pricing import (
    builtin_tables,
    is_billable,
    load_tables,
    table_for,
    type_from_path,
)

SERPRO = "serpro-integra-contador-2025-12"

# (type, count, band reached, band-mode amount, progressive amount), each worked by hand.
EDGES = [
    ("consulta", 1, 1, "0.24", "0.24"),                 # 1*0.24
    ("consulta", 300, 1, "72.00", "72.00"),             # 300*0.24
    ("consulta", 301, 2, "63.21", "72.21"),             # 301*0.21 | 72.00 + 1*0.21
    ("consulta", 1000, 2, "210.00", "219.00"),          # 1000*0.21 | 72.00 + 700*0.21
    ("consulta", 1001, 3, "180.18", "219.18"),          # 1001*0.18 | 219.00 + 1*0.18
    ("consulta", 3000, 3, "540.00", "579.00"),          # 3000*0.18 | 219.00 + 2000*0.18
    ("consulta", 3001, 4, "480.16", "579.16"),          # 3001*0.16 | 579.00 + 0.16
    ("consulta", 7000, 4, "1120.00", "1219.00"),        # 7000*0.16 | 579.00 + 4000*0.16
    ("consulta", 7001, 5, "980.14", "1219.14"),         # 7001*0.14 | 1219.00 + 0.14
    ("consulta", 15000, 5, "2100.00", "2339.00"),       # 15000*0.14 | 1219.00 + 8000*0.14
    ("consulta", 15001, 6, "1650.11", "2339.11"),       # 15001*0.11 | 2339.00 + 0.11
    ("consulta", 23000, 6, "2530.00", "3219.00"),       # 23000*0.11 | 2339.00 + 8000*0.11
    ("consulta", 23001, 7, "2070.09", "3219.09"),       # 23001*0.09 | 3219.00 + 0.09
    ("consulta", 30000, 7, "2700.00", "3849.00"),       # 30000*0.09 | 3219.00 + 7000*0.09
    ("consulta", 30001, 8, "1800.06", "3849.06"),       # 30001*0.06 | 3849.00 + 0.06
    ("emissao", 500, 1, "160.00", "160.00"),            # 500*0.32
    ("emissao", 501, 2, "145.29", "160.29"),            # 501*0.29 | 160.00 + 0.29
    ("emissao", 5000, 2, "1450.00", "1465.00"),         # 5000*0.29 | 160.00 + 4500*0.29
    ("emissao", 5001, 3, "1300.26", "1465.26"),         # 5001*0.26 | 1465.00 + 0.26
    ("emissao", 10000, 3, "2600.00", "2765.00"),        # 10000*0.26 | 1465.00 + 5000*0.26
    ("emissao", 10001, 4, "2200.22", "2765.22"),        # 10001*0.22 | 2765.00 + 0.22
    ("emissao", 15000, 4, "3300.00", "3865.00"),        # 15000*0.22 | 2765.00 + 5000*0.22
    ("emissao", 15001, 5, "2850.19", "3865.19"),        # 15001*0.19 | 3865.00 + 0.19
    ("emissao", 25000, 5, "4750.00", "5765.00"),        # 25000*0.19 | 3865.00 + 10000*0.19
    ("emissao", 25001, 6, "4000.16", "5765.16"),        # 25001*0.16 | 5765.00 + 0.16
    ("emissao", 35000, 6, "5600.00", "7365.00"),        # 35000*0.16 | 5765.00 + 10000*0.16
    ("emissao", 35001, 7, "4200.12", "7365.12"),        # 35001*0.12 | 7365.00 + 0.12
    ("emissao", 50000, 7, "6000.00", "9165.00"),        # 50000*0.12 | 7365.00 + 15000*0.12
    ("emissao", 50001, 8, "4000.08", "9165.08"),        # 50001*0.08 | 9165.00 + 0.08
    ("declaracao", 100, 1, "40.00", "40.00"),           # 100*0.40
    ("declaracao", 101, 2, "36.36", "40.36"),           # 101*0.36 | 40.00 + 0.36
    ("declaracao", 500, 2, "180.00", "184.00"),         # 500*0.36 | 40.00 + 400*0.36
    ("declaracao", 501, 3, "160.32", "184.32"),         # 501*0.32 | 184.00 + 0.32
    ("declaracao", 1000, 3, "320.00", "344.00"),        # 1000*0.32 | 184.00 + 500*0.32
    ("declaracao", 1001, 4, "280.28", "344.28"),        # 1001*0.28 | 344.00 + 0.28
    ("declaracao", 3000, 4, "840.00", "904.00"),        # 3000*0.28 | 344.00 + 2000*0.28
    ("declaracao", 3001, 5, "720.24", "904.24"),        # 3001*0.24 | 904.00 + 0.24
    ("declaracao", 5000, 5, "1200.00", "1384.00"),      # 5000*0.24 | 904.00 + 2000*0.24
    ("declaracao", 5001, 6, "1000.20", "1384.20"),      # 5001*0.20 | 1384.00 + 0.20
    ("declaracao", 8000, 6, "1600.00", "1984.00"),      # 8000*0.20 | 1384.00 + 3000*0.20
    ("declaracao", 8001, 7, "1280.16", "1984.16"),      # 8001*0.16 | 1984.00 + 0.16
    ("declaracao", 10000, 7, "1600.00", "2304.00"),     # 10000*0.16 | 1984.00 + 2000*0.16
    ("declaracao", 10001, 8, "1200.12", "2304.12"),     # 10001*0.12 | 2304.00 + 0.12
]


@pytest.fixture(scope="module")
def serpro():
    return builtin_tables()[SERPRO]


@pytest.mark.parametrize(("kind", "count", "band", "band_amount", "progressive"), EDGES)
def test_every_band_edge_in_both_modes(serpro, kind, count, band, band_amount, progressive):
    b = serpro.price(kind, count, "band")
    p = serpro.price(kind, count, "progressive")
    assert (b.band, b.amount) == (band, Decimal(band_amount))
    assert (p.band, p.amount) == (band, Decimal(progressive))
    assert b.unit_price == p.unit_price


def test_the_builtin_table_is_versioned_data(serpro):
    assert serpro.vendor == "serpro" and serpro.valid_from == date(2025, 12, 6)
    assert set(serpro.types) == {"consulta", "emissao", "declaracao"}
    assert serpro.price("apoiar", 500).amount == Decimal("0.00")
    assert serpro.price("consulta", 0).band is None


def test_a_whole_month_adds_the_types(serpro):
    # 301 consultas + 1 emissao + 0 declaracoes: band 301*0.21 + 1*0.32 = 63.21 + 0.32 = 63.53
    total, lines = serpro.bill({"consulta": 301, "emissao": 1}, "band")
    assert total == Decimal("63.53")
    assert [(line.type, line.count) for line in lines] == [
        ("consulta", 301), ("emissao", 1), ("declaracao", 0)]


def test_path_to_type_and_the_billable_rule():
    assert type_from_path("/integra-contador/v1/Consultar") == "consulta"
    assert type_from_path("/integra-contador/v1/Emitir") == "emissao"
    assert type_from_path("/integra-contador/v1/Declarar/") == "declaracao"
    assert type_from_path("/integra-contador/v1/Apoiar") == "apoiar"
    assert type_from_path("/integra-contador/v1/Other") is None
    assert is_billable("consulta", 200) and is_billable("emissao", 202)
    assert is_billable("declaracao", 403)  # a 403 for a missing procuracao is billed too
    assert not is_billable("consulta", 500) and not is_billable("consulta", 404)
    assert not is_billable("apoiar", 200) and not is_billable("monitorar", 200)


def test_months_are_in_sao_paulo():
    brt = timezone(timedelta(hours=-3))
    assert month_of(datetime(2026, 10, 31, 23, 59, tzinfo=brt)) == "2026-10"
    assert month_of(datetime(2026, 11, 1, 0, 1, tzinfo=brt)) == "2026-11"
    # 02:30 UTC on 1 November is still 31 October, 23:30 in Sao Paulo
    assert month_of(datetime(2026, 11, 1, 2, 30, tzinfo=UTC)) == "2026-10"
    start, end = month_bounds("2026-12")
    assert start == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert end == datetime(2027, 1, 1, 3, 0, tzinfo=UTC)


USER_TABLE = """
name = "serpro-negociada-2026"
vendor = "serpro"
valid_from = 2026-06-01
[types.consulta]
bands = [{ upto = 1000, price = "0.20" }, { price = "0.10" }]
"""


def _config(tmp_path: Path, **contract) -> config_mod.Config:
    return config_mod.from_dict({"price_tables": ["tables/mine.toml"], "contracts": [
        {"vendor": "serpro", "number": "261074", **contract}]}, tmp_path, "confere.toml")


def test_a_user_table_in_toml_is_chosen_by_validity(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "mine.toml").write_text(USER_TABLE, encoding="utf-8")
    cfg = _config(tmp_path)
    contract = cfg.settings.contracts[0]
    assert table_for(cfg, contract, "2026-05").name == SERPRO  # before the user table
    mine = table_for(cfg, contract, "2026-06")
    assert mine.name == "serpro-negociada-2026"
    # 1001 consultas: band 1001*0.10 = 100.10; progressive 1000*0.20 + 1*0.10 = 200.10
    assert mine.price("consulta", 1001).amount == Decimal("100.10")
    assert mine.price("consulta", 1001, "progressive").amount == Decimal("200.10")
    named = _config(tmp_path, price_table=SERPRO)
    assert table_for(named, named.settings.contracts[0], "2026-06").name == SERPRO


def test_table_errors_name_the_file_and_key(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "mine.toml").write_text(
        USER_TABLE.replace('price = "0.20"', 'price = "abc"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mine.toml: types.consulta.bands\[0\].price"):
        load_tables(_config(tmp_path))
    cfg = _config(tmp_path, price_table="nope")
    (tmp_path / "tables" / "mine.toml").write_text(USER_TABLE, encoding="utf-8")
    with pytest.raises(ConfigError, match="price_table 'nope' is not a known table"):
        table_for(cfg, cfg.settings.contracts[0], "2026-06")


def test_contract_settings_are_validated():
    with pytest.raises(ConfigError, match=r"contracts\[1\]\.companies"):
        config_mod.from_dict({"contracts": [{"vendor": "serpro", "number": "1",
                                             "companies": ["123"]}]}, Path("."))
    with pytest.raises(ConfigError,
                       match=r"contracts\[1\]\.budjet: unknown key: did you mean `budget`\?"):
        config_mod.from_dict({"contracts": [{"vendor": "serpro", "number": "1",
                                             "budjet": "10"}]}, Path("."))
