"""Metric declarations: the worked example, ECF files written here, the group's proof, the fee."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from parsers.ecf import parse_ecf
from parsers.errors import EcfError
from pipeline.config import settings as config_mod
from pipeline.costs import metrics
from pipeline.costs.reconcile import reconcile_month
from storage import CheckRow, Invoice, Message, open_store

from conftest import run_cli

A, B = "12345678000195", "11444777000161"

LUCRO_REAL = f"""|0000|LECF|0010|{A}|EMPRESA EXEMPLO AÇÚCAR LTDA|0||||01012025|31122025|N||0||
|0001|0|
|0010||N|N|1|A||||||||
|L001|0|
|L030|01012025|31122025|A00|
|L300|3|RESULTADO LÍQUIDO DO PERÍODO|S|1|04||11990000,00|C|
|L300|3.01.01.01.01|RECEITA BRUTA|S|5|04|3.01.01.01|12000000,00|C|
|L300|3.01.01.01.02|DEDUÇÕES DA RECEITA BRUTA|S|5|04|3.01.01.01|10000,00|D|
|L300|3.01.01.01.02.01|(-) Vendas Canceladas e Devoluções|A|6|04|3.01.01.01.02|10000,00|D|
|L990|8|
|9999|14|
"""

QUARTER = """|P030|{start}|{end}|{q}|
|P150|3.01.01.01.01|RECEITA BRUTA|S|5|04|3.01.01.01|3000000,00|C|
|P150|3.01.01.01.02|DEDUÇÕES DA RECEITA BRUTA|S|5|04|3.01.01.01|2500,00|D|
|P150|3.01.01.01.02.01|(-) Impostos Incidentes sobre Vendas|A|6|04|3.01.01.01.02|2500,00|D|
"""
LUCRO_PRESUMIDO = (
    f"|0000|LECF|0010|{B}|FILIAL SERVIÇOS LTDA|0||||01012025|31122025|N||0||\n"
    "|0010||N|N|5|A||||||||\n|P001|0|\n"
    + "".join(QUARTER.format(start=s, end=e, q=q) for s, e, q in [
        ("01012025", "31032025", "T01"), ("01042025", "30062025", "T02"),
        ("01072025", "30092025", "T03"), ("01102025", "31122025", "T04")])
    + "|9999|20|\n")


def ecf_bytes(text: str) -> bytes:
    return text.encode("latin-1") + b"\x30\x82\x05\xff signature bytes follow"


def test_the_worked_declaration():
    # 12,000,000.00 - 10,000.00 - 0 - 0 = 11,990,000.00
    f = metrics.Figures(Decimal("12000000.00"), Decimal("10000.00"), Decimal("0"), Decimal("0"))
    assert f.net == Decimal("11990000.00")
    with pytest.raises(metrics.DeclarationError, match="exceed the gross revenue"):
        metrics.Figures(Decimal("10"), Decimal("11")).check()


def test_ecf_lucro_real_annual_block():
    ecf = parse_ecf(ecf_bytes(LUCRO_REAL))
    assert (ecf.cnpj, ecf.year, ecf.forma_trib, ecf.regime) == (A, 2025, "1", "lucro real")
    assert ecf.name == "EMPRESA EXEMPLO AÇÚCAR LTDA"  # Latin-1 decoded
    assert (ecf.statement, ecf.periods) == ("L300", ("A00",))
    figures, notes = metrics.figures_from_ecf(ecf)
    # 12,000,000.00 - 10,000.00 (cancelled sales) - 0 - 0 = 11,990,000.00
    assert (figures.gross, figures.cancellations, figures.taxes, figures.discounts) == (
        Decimal("12000000.00"), Decimal("10000.00"), 0, 0)
    assert figures.net == Decimal("11990000.00") and notes == []


def test_ecf_lucro_presumido_sums_the_quarters():
    ecf = parse_ecf(ecf_bytes(LUCRO_PRESUMIDO))
    assert (ecf.cnpj, ecf.regime, ecf.statement) == (B, "lucro presumido", "P150")
    assert ecf.periods == ("T01", "T02", "T03", "T04")
    figures, _ = metrics.figures_from_ecf(ecf)
    # 4 * 3,000,000.00 = 12,000,000.00; taxes 4 * 2,500.00 = 10,000.00; net 11,990,000.00
    assert (figures.gross, figures.taxes, figures.net) == (
        Decimal("12000000.00"), Decimal("10000.00"), Decimal("11990000.00"))


def test_ecf_errors_say_what_is_missing():
    with pytest.raises(EcfError, match=re.escape("no |0000|LECF| record")):
        parse_ecf(b"hello")
    with pytest.raises(EcfError, match=r"no gross revenue \(account 3.01.01.01.01\)"):
        parse_ecf(LUCRO_REAL.replace("3.01.01.01.01|", "3.01.01.01.09|").encode("latin-1"))


def metric_config(tmp_path: Path) -> Path:
    path = tmp_path / "confere.toml"
    path.write_text(f"""
[database]
url = "sqlite:///{tmp_path / 'confere.db'}"
[vendors.totvs]
name = "TOTVS"
sender_domains = ["totvs.com.br"]
cnpj_roots = ["53113791"]
[[contracts]]
vendor = "totvs"
number = "TOT-99"
billing = "metric"
companies = ["{A}", "{B}"]
tolerance = "0.00"
metric_bands = [{{ upto = "10000000.00", fee = "1000.00" }},
                {{ upto = "50000000.00", fee = "2500.00" }},
                {{ fee = "4000.00" }}]
""", encoding="utf-8")
    return path


def add_bill(engine, amount: str) -> int:
    with Session(engine) as s:
        msg = Message(sha256="f" * 64, size=1, source="file")
        s.add(msg)
        s.flush()
        inv = Invoice(message_id=msg.id, vendor="totvs", contract_number="TOT-99",
                      reference_month="2026-03", services_cents=int(Decimal(amount) * 100),
                      verdict="ok")
        s.add(inv)
        s.commit()
        return inv.id


@pytest.mark.slow
def test_declarations_prove_the_contract_band_only_when_the_group_is_concluded(tmp_path):
    cfg_path = metric_config(tmp_path)
    cfg = config_mod.load(cfg_path)
    engine = open_store(cfg.database_url)
    inv_id = add_bill(engine, "2500.00")
    ecf = tmp_path / "empresa-a.txt"
    ecf.write_bytes(ecf_bytes(LUCRO_REAL))
    out = run_cli("metrics", "import-ecf", str(ecf), "--vendor", "totvs", "--yes", "--json",
                  "--config", str(cfg_path))
    declared = json.loads(out.stdout)
    assert (declared["net_revenue"], declared["status"]) == ("11990000.00", "draft")
    assert "receita liquida 11990000.00" in out.stderr
    [r] = reconcile_month(engine, cfg, "2026-03")
    assert r.outcome == "no_data" and f"no declaration for {B}" in r.detail
    refused = run_cli("metrics", "conclude", "--contract", "TOT-99", "--year", "2025",
                      "--config", str(cfg_path), check=False)
    assert refused.returncode != 0 and f"no declaration yet for {B}" in refused.stderr
    # B files no ECF (Simples Nacional): by form, 3.000.000,00 - 0 - 0 - 0 = 3,000,000.00
    run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", B, "--year", "2025",
            "--gross", "3.000.000,00", "--config", str(cfg_path))
    [r] = reconcile_month(engine, cfg, "2026-03")
    assert r.outcome == "no_data" and "not concluded" in r.detail
    done = run_cli("metrics", "conclude", "--contract", "TOT-99", "--year", "2025",
                   "--config", str(cfg_path))
    assert "re-reconciled contract TOT-99 2026-03: match" in done.stdout
    with Session(engine) as s:
        check = s.exec(select(CheckRow).where(CheckRow.invoice_id == inv_id)).one()
    assert (check.name, check.outcome) == ("reconcile.metric", "pass")
    proc = run_cli("reconcile", "--month", "2026-03", "--json", "--config", str(cfg_path))
    obj = json.loads(proc.stdout)
    # group metric 11,990,000.00 + 3,000,000.00 = 14,990,000.00: band 2 (<= 50,000,000), 2500.00
    assert obj["metric"] == {"year": 2025, "net_revenue": "14990000.00", "band": 2,
                             "fee": "2500.00", "proof_complete": True}
    assert (obj["expected_amount"], obj["billed_amount"], obj["outcome"], obj["check"]) == (
        "2500.00", "2500.00", "match", "pass")
    assert obj["breakdown"] == []


def test_a_metric_bill_over_the_band_fee_fails(tmp_path):
    cfg = config_mod.load(metric_config(tmp_path))
    engine = open_store(cfg.database_url)
    with Session(engine) as s:
        for cnpj, gross in ((A, "9000000.00"), (B, "500000.00")):
            metrics.save(s, "totvs", cnpj, 2025, metrics.Figures(Decimal(gross)),
                         status="concluded", source="form")
        s.commit()
    inv_id = add_bill(engine, "2500.00")
    [r] = reconcile_month(engine, cfg, "2026-03")
    # 9,000,000.00 + 500,000.00 = 9,500,000.00 <= 10,000,000.00: band 1, fee 1000.00
    assert (r.metric.band, r.expected, r.outcome) == (1, Decimal("1000.00"), "over")
    with Session(engine) as s:
        assert s.get(Invoice, inv_id).verdict == "review"


@pytest.mark.slow
def test_declare_refuses_a_bad_amount_or_cnpj(tmp_path):
    cfg_path = metric_config(tmp_path)
    bad = run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", A, "--year", "2025",
                  "--gross", "doze milhões", "--config", str(cfg_path), check=False)
    assert bad.returncode != 0 and "--gross: 'doze milhões' is not an amount" in bad.stderr
    bad = run_cli("metrics", "declare", "--vendor", "totvs", "--cnpj", "123", "--year", "2025",
                  "--gross", "1", "--config", str(cfg_path), check=False)
    assert bad.returncode != 0 and "'123' is not a valid CNPJ" in bad.stderr
