"""Frictions a new user met: the demo's config reusable, `paid --on` in dd/mm/aaaa, metric
declarations that can be deleted and warn when they reopen a proof, an empty list said so,
the yearly report's difference card that adds up, and the usage table in the report."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.reports.report import Report, Row, to_html
from storage import Invoice, open_store

from conftest import FIXTURES, ROOT, run_cli

A, B = "12345678000195", "11444777000161"  # the demo's company, and a second of the group


def _metric_config(tmp_path: Path) -> Path:
    path = tmp_path / "confere.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n[vendors.totvs]\n'
                    'name = "TOTVS"\nsender_domains = ["totvs.com.br"]\n'
                    'cnpj_roots = ["53113791"]\n[[contracts]]\nvendor = "totvs"\n'
                    f'number = "TOT-99"\nbilling = "metric"\ncompanies = ["{A}", "{B}"]\n'
                    'metric_bands = [{ fee = "1000.00" }]\n', encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_demo_writes_a_config_later_commands_can_use(tmp_path):
    work = tmp_path / "demo"
    proc = run_cli("demo", "--workdir", str(work))
    assert f"config at {work}/confere.toml" in proc.stdout
    listing = run_cli("invoices", "--config", str(work / "confere.toml")).stdout
    assert "R$ 10.738,04" in listing and "NÃO PAGAR" in listing


@pytest.mark.slow
def test_paid_accepts_a_brazilian_date(tmp_path, demo_config):
    run_cli("ingest", "--config", str(demo_config),
            str(FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"))
    run_cli("paid", "1", "--on", "20/11/2026", "--config", str(demo_config))
    config = config_mod.load(demo_config)
    with Session(open_store(config.database_url)) as s:
        paid_at = s.exec(select(Invoice.paid_at)).one()
    assert paid_at.astimezone(UTC).date() == date(2026, 11, 20)
    bad = run_cli("paid", "1", "--on", "2026/11/20", "--config", str(demo_config), check=False)
    assert bad.returncode != 0 and "%d/%m/%Y" in bad.stderr


@pytest.mark.slow
def test_metric_declarations_list_warn_and_delete(tmp_path):
    cfg = str(_metric_config(tmp_path))
    empty = run_cli("metrics", "list", "--config", cfg)
    assert "no declarations yet" in empty.stdout
    first = run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", A, "--year", "2025",
                    "--gross", "1.000.000,00", "--conclude", "--config", cfg)
    assert "receita líquida R$ 1.000.000,00 (concluída)" in first.stdout
    assert "atenção" not in first.stderr
    again = run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", A, "--year", "2025",
                    "--gross", "2.000.000,00", "--config", cfg)
    assert "já estava declarada e concluída" in again.stderr
    assert "volta a ficar aberta" in again.stderr
    # A draft saved by mistake goes away; asked first when concluded ("s" means yes).
    run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", B, "--year", "2025",
            "--gross", "5,00", "--config", cfg)
    gone = run_cli("metrics", "delete", "--vendor", "totvs", "--cnpj", B, "--year", "2025",
                   "--config", cfg)
    assert "apagada" in gone.stdout
    listed = run_cli("metrics", "list", "--config", cfg).stdout
    assert "11.444.777/0001-61" not in listed and "12.345.678/0001-95" in listed
    missing = run_cli("metrics", "delete", "--vendor", "totvs", "--cnpj", B, "--year", "2025",
                      "--config", cfg, check=False)
    assert missing.returncode != 0 and "no declaration of" in missing.stderr
    # A concluded one is asked about first; "n" keeps it, "sim" deletes it.
    run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", B, "--year", "2025",
            "--gross", "5,00", "--conclude", "--config", cfg)
    delete = ("metrics", "delete", "--vendor", "totvs", "--cnpj", B, "--year", "2025",
              "--config", cfg)
    kept = answer(delete, "n\n")
    assert kept.returncode != 0 and "[s/N]" in kept.stderr and "not deleted" in kept.stderr
    assert answer(delete, "sim\n").returncode == 0
    assert "11.444.777/0001-61" not in run_cli("metrics", "list", "--config", cfg).stdout


def answer(args: tuple[str, ...], typed: str) -> subprocess.CompletedProcess:
    """The command line with a person's answer typed on its standard input."""
    return subprocess.run([sys.executable, "-c", "from pipeline.cli.main import run; run()",
                           *args], input=typed, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def _row(month: str, billed: int, expected: int | None, outcome: str | None) -> Row:
    return Row(month=month, vendor="serpro", contract="261074", invoice_id=int(month[5:]),
               billed_cents=billed, payable_cents=billed, expected_cents=expected,
               reconciliation=outcome, verdict="ok", payment="paid")


def _card(html: str) -> tuple[str, str]:
    value = re.search(r'class="value ([a-z]*)" id="total-difference">([^<]*)<', html)
    sub = re.search(r'id="difference-sum">([^<]*)<', html)
    assert value and sub
    return value.group(1) + "|" + value.group(2), sub.group(1)


def test_the_yearly_difference_card_adds_up_and_tolerance_is_not_a_warning():
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    rows = [_row("2026-01", 1_000_030, 1_000_000, "match"),  # 30 centavos: within tolerance
            _row("2026-02", 2_000_000, None, None)]  # no expectation: not compared
    report = Report("2026", months, rows, [None] * 12, [None] * 12, "Empresa",
                    datetime(2026, 12, 1, tzinfo=UTC))
    tone, sub = _card(to_html(report))
    # R$ 10.000,30 - R$ 10.000,00 = +R$ 0,30, said of the bills compared; not painted.
    assert tone == "|+R$ 0,30"
    assert sub == ("cobrado R$ 10.000,30 menos esperado R$ 10.000,00, nas 1 fatura(s) com "
                   "valor esperado; dentro da tolerância")
    rows.append(_row("2026-03", 1_500_000, 1_000_000, "over"))
    tone, _sub = _card(to_html(report))
    assert tone == "over|+R$ 5.000,30"


def test_the_html_report_shows_the_usage_breakdown():
    line = {"month": "2026-03", "contract": "261074", "type": "consulta", "count": 1234567,
            "band": 3, "unit_price": "0.24", "amount": "296296.08"}
    report = Report("2026-03", ["2026-03"], [], [None], [None], "Empresa",
                    datetime(2026, 4, 1, tzinfo=UTC), usage=[line])
    html = to_html(report)
    section = html[html.index('id="usage"'):]
    for text in ("consulta", "1.234.567", "R$ 0,24", "R$ 296.296,08", "03/2026"):
        assert text in section
