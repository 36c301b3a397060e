"""Reconciliation: expected (by hand, from DOMAIN.md's table) vs billed, stored and recomputed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.costs.forecast import forecast
from pipeline.costs.reconcile import reconcile_invoice, reconcile_month
from pipeline.costs.usage import insert_events
from storage import CheckRow, Invoice, Message, open_store
from storage.usage_models import Reconciliation

from conftest import FIXTURES, json_lines, manifest, run_cli

BRT = timezone(timedelta(hours=-3))


def make_config(tmp_path: Path, **contract) -> config_mod.Config:
    return config_mod.from_dict({
        "database": {"url": f"sqlite:///{tmp_path / 'confere.db'}"},
        "contracts": [{"vendor": "serpro", "number": "261074", **contract}],
    }, tmp_path, "confere.toml")


def add_events(engine, month_day: str, kind: str, n: int, status: int = 200,
               prefix: str = "e") -> None:
    """n events of one type on one local day (YYYY-MM-DD), straight into the store."""
    day = datetime.fromisoformat(f"{month_day}T12:00:00-03:00")
    billable = status in (200, 202, 403) and kind not in ("apoiar", "monitorar")
    rows = [(f"{prefix}-{kind}-{status}-{i}", day.astimezone(UTC), month_day[:7], "261074",
             None, kind, "S", "X", status, billable, "import") for i in range(n)]
    with engine.begin() as conn:
        insert_events(conn, rows)


def add_invoice(engine, month: str, services: str, number: str = "1") -> int:
    with Session(engine) as s:
        msg = Message(sha256=f"{number:0>64}", size=1, source="file")
        s.add(msg)
        s.flush()
        inv = Invoice(message_id=msg.id, vendor="serpro", contract_number="261074",
                      reference_month=month, provider_cnpj="33683111000107", nfse_number=number,
                      services_cents=int(Decimal(services) * 100), verdict="ok")
        s.add(inv)
        s.commit()
        return inv.id


@pytest.mark.parametrize(("count", "mode", "expected"), [
    (300, "band", "72.00"),          # 300*0.24
    (301, "band", "63.21"),          # 301*0.21
    (300, "progressive", "72.00"),   # 300*0.24
    (301, "progressive", "72.21"),   # 300*0.24 + 1*0.21
    (1000, "band", "210.00"),        # 1000*0.21
    (1001, "band", "180.18"),        # 1001*0.18
    (1000, "progressive", "219.00"),  # 300*0.24 + 700*0.21 = 72.00 + 147.00
    (1001, "progressive", "219.18"),  # 219.00 + 1*0.18
])
def test_a_month_at_the_consulta_band_edges(tmp_path, count, mode, expected):
    cfg = make_config(tmp_path, pricing_mode=mode)
    engine = open_store(cfg.database_url)
    add_events(engine, "2026-10-10", "consulta", count)
    [r] = reconcile_month(engine, cfg, "2026-10")
    assert r.to_json()["expected_amount"] == expected


def test_each_type_has_its_own_bands(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    add_events(engine, "2026-10-10", "consulta", 301)
    add_events(engine, "2026-10-10", "emissao", 501)
    add_events(engine, "2026-10-10", "declaracao", 101)
    add_events(engine, "2026-10-10", "apoiar", 50)
    add_events(engine, "2026-10-10", "consulta", 7, status=500)
    [r] = reconcile_month(engine, cfg, "2026-10")
    out = r.to_json()
    # band: 301*0.21 + 501*0.29 + 101*0.36 = 63.21 + 145.29 + 36.36 = 244.86
    assert out["expected_amount"] == "244.86"
    assert out["breakdown"] == [
        {"type": "consulta", "count": 301, "band": 2, "unit_price": "0.21", "amount": "63.21"},
        {"type": "emissao", "count": 501, "band": 2, "unit_price": "0.29", "amount": "145.29"},
        {"type": "declaracao", "count": 101, "band": 2, "unit_price": "0.36", "amount": "36.36"},
    ]
    assert out["not_billed"] == 57  # 50 Apoiar + 7 answered 500


@pytest.mark.parametrize(("billed", "outcome", "check", "difference", "verdict"), [
    ("63.21", "match", "pass", "0.00", "ok"),
    ("63.71", "match", "pass", "0.50", "ok"),     # 63.71 - 63.21 = 0.50, at the tolerance
    ("63.72", "over", "fail", "0.51", "review"),  # 63.72 - 63.21 = 0.51
    ("60.00", "under", "fail", "-3.21", "review"),  # 60.00 - 63.21
])
def test_billed_matching_over_and_under(tmp_path, billed, outcome, check, difference, verdict):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    add_events(engine, "2026-10-10", "consulta", 301)  # expected 301*0.21 = 63.21
    inv_id = add_invoice(engine, "2026-10", billed)
    [r] = reconcile_month(engine, cfg, "2026-10")
    out = r.to_json()
    assert (out["billed_amount"], out["outcome"], out["check"], out["difference"]) == (
        billed, outcome, check, difference)
    with Session(engine) as s:
        inv = s.get(Invoice, inv_id)
        row = s.exec(select(CheckRow).where(CheckRow.invoice_id == inv_id)).one()
        stored = s.exec(select(Reconciliation)).one()
    assert (row.name, row.outcome, inv.verdict) == ("reconcile.usage", check, verdict)
    assert (stored.expected_cents, stored.billed_cents, stored.outcome) == (
        6321, int(Decimal(billed) * 100), outcome)


def test_no_usage_is_skipped_and_says_what_is_missing(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    inv_id = add_invoice(engine, "2026-10", "100.00")
    with Session(engine) as s:
        check = reconcile_invoice(s, s.get(Invoice, inv_id), cfg)
        s.commit()
        assert s.get(Invoice, inv_id).verdict == "ok"
    assert check.outcome == "skipped"
    assert "no metered usage for contract 261074 in 2026-10" in check.detail


# slow: two CLI runs; the fast subset reads `reconcile --json` in
# test_the_current_month_carries_its_forecast.
@pytest.mark.slow
def test_reconcile_json_command(tmp_path, demo_config):
    cfg = config_mod.load(demo_config)
    engine = open_store(cfg.database_url)
    add_events(engine, "2026-10-10", "emissao", 500)  # 500*0.32 = 160.00
    proc = run_cli("reconcile", "--month", "2026-10", "--json", "--config", str(demo_config))
    [obj] = json_lines(proc.stdout)
    assert {"contract", "month", "expected_amount", "billed_amount", "difference", "outcome",
            "breakdown"} <= set(obj)
    assert (obj["contract"], obj["month"], obj["expected_amount"]) == ("261074", "2026-10",
                                                                      "160.00")
    assert obj["billed_amount"] is None and obj["difference"] is None
    assert obj["outcome"] == "no_bill"
    assert obj["breakdown"][1] == {"type": "emissao", "count": 500, "band": 1,
                                   "unit_price": "0.32", "amount": "160.00"}
    bad = run_cli("reconcile", "--month", "2026-13", "--config", str(demo_config), check=False)
    assert bad.returncode != 0 and "--month: '2026-13' is not a month" in bad.stderr
    # The table for people: Brazilian money and month, the outcome in words.
    table = run_cli("reconcile", "--month", "2026-10", "--config", str(demo_config)).stdout
    assert "10/2026" in table and "R$ 160,00" in table and "sem fatura" in table
    assert "160.00" not in table and "no_bill" not in table


@pytest.mark.slow
def test_ingest_judges_the_bill_and_late_usage_recomputes_it(tmp_path, demo_config):
    case = next(c for c in manifest() if c["case"] == "genuine-01-abrasf-bare")
    month, services = case["facts"]["reference_month"], case["facts"]["nfse"]["services_amount"]
    proc = run_cli("ingest", "--json", "--config", str(demo_config), str(FIXTURES / case["file"]))
    [line] = json_lines(proc.stdout)
    checks = {c["name"]: c for c in line["invoice"]["checks"]}
    assert checks["reconcile.usage"]["outcome"] == "skipped"
    assert line["invoice"]["verdict"] == "ok"
    usage = tmp_path / "late.csv"
    usage.write_text("timestamp,contract,type,status,request_id\n"
                     f"{month}-15T10:00:00-03:00,261074,consulta,200,late-1\n", encoding="utf-8")
    out = json.loads(run_cli("usage", "import", str(usage), "--json", "--config",
                             str(demo_config)).stdout)
    [again] = out["reconciled"]
    # one consulta: 1*0.24 = 0.24 expected, billed the sample's services amount
    assert (again["expected_amount"], again["billed_amount"]) == ("0.24", services)
    assert again["outcome"] == "over"
    shown = json.loads(run_cli("invoices", "--json", "--config", str(demo_config)).stdout)
    checks = {c["name"]: c for c in shown["checks"]}
    assert checks["reconcile.usage"]["outcome"] == "fail"
    assert shown["verdict"] == "review"


def test_forecast_projects_the_band_reached_and_the_budget(tmp_path):
    cfg = make_config(tmp_path, budget="60.00")
    engine = open_store(cfg.database_url)
    add_events(engine, "2026-11-10", "consulta", 151)
    now = datetime(2026, 11, 16, 0, 0, tzinfo=BRT)  # 15 of November's 30 days gone
    with Session(engine) as s:
        f = forecast(s, cfg, cfg.settings.contracts[0], "2026-11", now=now)
    assert f.elapsed == Decimal("0.5")
    out = f.to_json()
    # so far 151*0.24 = 36.24; projected 151/0.5 = 302 consultas, band 2: 302*0.21 = 63.42
    assert (out["amount_so_far"], out["projected_amount"]) == ("36.24", "63.42")
    assert out["projection"][0]["projected_count"] == 302 and out["projection"][0]["band"] == 2
    assert out["over_budget"] is True  # 63.42 > 60.00


@pytest.mark.slow
def test_the_current_month_carries_its_forecast(tmp_path, demo_config):
    from parsers.months import SAO_PAULO, month_of

    cfg = config_mod.load(demo_config)
    engine = open_store(cfg.database_url)
    now = datetime.now(UTC)
    add_events(engine, now.astimezone(SAO_PAULO).strftime("%Y-%m-%d"), "consulta", 10)
    month = month_of(now)
    [obj] = json_lines(run_cli("reconcile", "--month", month, "--json", "--config",
                               str(demo_config)).stdout)
    f = obj["forecast"]
    assert f["month"] == month and f["amount_so_far"] == "2.40"  # 10*0.24
    assert Decimal(f["projected_amount"]) >= Decimal("2.40") and f["over_budget"] is None
    [g] = json_lines(run_cli("usage", "forecast", "--json", "--config", str(demo_config)).stdout)
    assert g["amount_so_far"] == "2.40" and g["projection"][0]["count_so_far"] == 10
