"""The reconciliation report in every format, drawn in headless Chromium; terminal listings."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.reports.charts import BILLED_COLOUR, EXPECTED_COLOUR
from pipeline.reports.report import build, to_json
from storage import Invoice, open_store
from storage.usage_models import Reconciliation

from conftest import FIXTURES, run_cli
from harness.smtp_server import free_port, write_config

MAILBOX = FIXTURES / "mailbox"
BILLS = ("genuine-01-abrasf-bare.eml",  # 03/2026, services 10738.04, due 2026-04-20
         "genuine-02-abrasf-namespaced.eml",  # 04/2026
         "tampered-check-digit.eml")  # blocked, 2025


@pytest.fixture(scope="module")
def reported(tmp_path_factory) -> Path:
    """Three bills, March over its expectation, April matching it, March paid."""
    tmp = tmp_path_factory.mktemp("report")
    cfg = write_config(tmp, free_port(), alerts_extra="kinds = []")
    run_cli("ingest", "--config", str(cfg), *(str(MAILBOX / b) for b in BILLS))
    config = config_mod.load(cfg)
    engine = open_store(config.database_url)
    with Session(engine) as s:
        for month, expected in (("2026-03", 1_000_000), ("2026-04", None)):
            inv = s.exec(select(Invoice).where(Invoice.reference_month == month)).one()
            rec = s.exec(select(Reconciliation).where(Reconciliation.month == month)).first()
            rec = rec or Reconciliation(vendor="serpro", contract="261074", month=month,
                                        billing="usage", outcome="", check_outcome="",
                                        detail="", breakdown="[]")
            expected = inv.services_cents if expected is None else expected
            rec.invoice_id, rec.billed_cents, rec.expected_cents = inv.id, inv.services_cents, \
                expected
            rec.difference_cents = inv.services_cents - expected
            rec.outcome = "over" if rec.difference_cents else "match"
            s.add(rec)
        s.commit()
    run_cli("paid", "1", "--on", "2026-04-18", "--config", str(cfg))
    return cfg


def report(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("report", "--config", str(cfg), *args)


@pytest.mark.slow
def test_json_report_of_a_month(reported):
    data = json.loads(report(reported, "--month", "2026-03", "--format", "json").stdout)
    assert data["period"] == "2026-03"
    assert data["totals"] == {"billed": "10738.04", "payable": "10738.04",
                              "expected": "10000.00", "difference": "738.04", "blocked": "0.00"}
    [row] = data["rows"]
    assert (row["contract"], row["nfse_number"], row["verdict"]) == ("261074", "276033", "ok")
    assert (row["payment"], row["paid_at"][:10]) == ("paid", "2026-04-18")
    assert row["reconciliation"] == "over" and row["due_date"] == "2026-04-20"
    chart = {p["month"]: p for p in data["chart"]}
    assert len(chart) == 12 and chart["2026-03"]["expected"] == "10000.00"


def test_yearly_view_lists_every_month_and_missing_bills(reported):
    config = config_mod.load(reported)
    with Session(open_store(config.database_url)) as s:
        data = to_json(build(s, config, "2026", today=date(2026, 6, 15)))
    assert [p["month"] for p in data["chart"]] == [f"2026-{m:02d}" for m in range(1, 13)]
    by_month = {r["month"]: r for r in data["rows"]}
    assert by_month["2026-01"]["payment"] == "missing"  # before the first bill
    assert by_month["2026-05"]["payment"] == "missing"
    assert "2026-06" not in by_month  # the current month is not over yet
    assert by_month["2026-04"]["reconciliation"] == "match"
    assert data["totals"]["billed"] == "24164.73" and data["totals"]["difference"] == "738.04"


def test_csv_opens_in_a_brazilian_spreadsheet(reported):
    raw = report(reported, "--month", "2026-03", "--format", "csv").stdout.encode("utf-8")
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["competência", "fornecedor", "contrato"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["competência"] == "03/2026" and row["vencimento"] == "20/04/2026"
    assert (row["cobrado"], row["esperado"], row["diferença"]) == ("10738,04", "10000,00",
                                                                   "738,04")
    # ok, but the issuer was never asked and the email never authenticated: the CSV says so.
    assert row["veredito"] == "ok - não conferida na prefeitura / e-mail não autenticado"
    assert row["pagamento"] == "paga" and row["fornecedor"] == "SERPRO"
    assert row["reconciliação"] == "acima do esperado"
    assert row["pago em"] == "18/04/2026"


def test_plain_csv_for_programs(reported, tmp_path):
    out = tmp_path / "r.csv"
    report(reported, "--month", "2026-03", "--format", "csv-plain", "--output", str(out))
    raw = out.read_bytes()
    assert not raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert rows[0]["billed"] == "10738.04" and rows[0]["due_date"] == "2026-04-20"
    assert rows[0]["verdict"] == "ok" and rows[0]["payment"] == "paid"


def test_bad_periods_are_refused(reported):
    proc = run_cli("report", "--config", str(reported), "--month", "2026-13", check=False)
    assert proc.returncode != 0 and "YYYY-MM" in proc.stderr


def _html(cfg: Path, tmp_path: Path) -> Path:
    out = tmp_path / "relatorio.html"
    report(cfg, "--month", "2026-04", "--format", "html", "--output", str(out))
    return out


@pytest.mark.slow
def test_html_report_is_one_self_contained_file(reported, tmp_path):
    html = _html(reported, tmp_path).read_text("utf-8")
    assert "<svg" in html and "<style>" in html
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "url(http" not in html and "@import" not in html
    # April: billed R$ 13.426,69 matching its expectation; totals in the page.
    for text in ('id="total-billed">R$ 13.426,69', 'id="total-expected">R$ 13.426,69',
                 "Conciliação de 04/2026", "ok - não conferida na prefeitura", "vencida"):
        assert text in html


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (make test installs it)")
def test_html_report_renders_its_chart_in_headless_chromium(reported, tmp_path):
    from PIL import Image

    page = _html(reported, tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,1600", page.as_uri()],
        check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1600)

    def near(pixel, colour, slack=12) -> bool:
        return all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=True))

    billed, expected = _rgb(BILLED_COLOUR), _rgb(EXPECTED_COLOUR)
    pixels = image.load()
    found = {"billed": [], "expected": []}
    for y in range(0, 1600, 2):
        for x in range(0, 1200, 2):
            p = pixels[x, y]
            if near(p, billed):
                found["billed"].append((x, y))
            elif near(p, expected):
                found["expected"].append((x, y))
    # Both series are drawn, as solid bars (not just the legend's swatches).
    assert len(found["billed"]) > 200 and len(found["expected"]) > 200
    ys = [y for _x, y in found["billed"] + found["expected"]]
    xs = [x for x, _y in found["billed"] + found["expected"]]
    box = (min(xs), min(ys), max(xs), max(ys))
    chart = image.crop(box)
    colours = {c for _n, c in chart.getcolors(maxcolors=1 << 20)}
    assert len(colours) > 3 and box[2] - box[0] > 300  # bars, axes, labels: not blank


def test_invoices_without_a_terminal_has_no_colour_codes(reported):
    out = run_cli("invoices", "--config", str(reported)).stdout
    assert "\x1b[" not in out
    assert "ok - não" in out and "NÃO PAGAR" in out and "276033" in out


@pytest.mark.slow
def test_demo_writes_its_report_and_says_where(tmp_path):
    proc = run_cli("demo", "--workdir", str(tmp_path / "demo"))
    match = re.search(r"relatório de (\d{4}): (\S+\.html)", proc.stdout)
    assert match, proc.stdout[-2000:]
    page = Path(match.group(2))
    assert page.is_file() and page.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert "<svg" in page.read_text("utf-8")
