"""What a finance person reads is pt-BR throughout; the JSON contract keeps English and its keys.

The sample mailbox goes through the real command line; then every finance-facing output (the
ingest table and its notes, the bill list, each bill's card, the HTML and CSV reports, every
alert in the outbox) is searched for words of an English list. Every check name and outcome is
rendered too, with and without the bill's values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.checks import render
from pipeline.checks.vocabulary import CHECKS
from pipeline.config import settings as config_mod
from pipeline.notify.rules import evaluate_time_rules
from storage import open_store
from storage.alert_models import Alert

from conftest import FIXTURES, json_lines, run_cli, run_clis
from harness.smtp_server import write_config

ENGLISH = re.compile(
    r"\b(the|is|are|not|of|and|with|from|already|stored|forwarded|signature|amount|matches|"
    r"found|sender|block|review|missing|over|under|bill|invoice|failed|fail|unknown|skipped|"
    r"pass|checked|due|paid|month|contract|bank|provider|taker|none|ok to pay|do not pay|"
    r"broken|corrupt|refused|named|content|declares|unreadable|duplicate|quarantined|ignored)\b",
    re.IGNORECASE)
URL_OR_ADDRESS = re.compile(r"https?://\S+|[\w.+-]+@[\w.-]+|<[^>]*@[^>]*>")
FILES = sorted(p.name for p in (FIXTURES / "mailbox").glob("*.eml"))
WIDE = {"COLUMNS": "250"}
TERMINAL = re.compile(r"\bconfere (show|paid|invoices|alerts|ingest|verify|report|usage)\b")


def english_in(text: str) -> list[str]:
    """English words left once file names, addresses and links are taken out."""
    text = URL_OR_ADDRESS.sub(" ", text)
    for name in FILES:
        text = text.replace(name, " ")
    text = re.sub(r"\b\w+_\d+_?\d*\.(pdf|xml)\b", " ", text)  # attachment names
    return sorted({m.group(0).lower() for m in ENGLISH.finditer(text)})


class _Visible(HTMLParser):
    """The text a reader sees in an HTML page (no style, script or drawing)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "svg"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script", "svg"):
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(parser.parts)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, str]:
    """The sample mailbox ingested through the CLI's human output, alerts on (not sent)."""
    tmp = tmp_path_factory.mktemp("language")
    cfg = write_config(tmp, 9)  # nothing is delivered: the outbox is read
    out = run_cli("ingest", "--config", str(cfg), *(str(FIXTURES / "mailbox" / f)
                                                     for f in FILES), env=WIDE).stdout
    return cfg, out


def test_every_check_outcome_renders_in_portuguese():
    invoice = {"vendor": "serpro", "contract_number": "261074", "reference_month": "2026-10",
               "due_date": "2026-11-20",
               "nfse": {"net_amount": "1088.81", "competence": "2026-09-01",
                        "provider_cnpj": "85222890000139", "provider_name": "FULANO LTDA",
                        "taker_cnpj": "11222333000181"},
               "boleto": {"amount": "1361.01", "due_date": "2026-11-21", "bank_code": "341",
                          "pix": {"amount": "1361.02"}}}
    lines = []
    for name in CHECKS:
        for outcome in ("pass", "fail", "unknown", "skipped"):
            check = {"name": name, "outcome": outcome, "detail": "English detail"}
            lines += [render.check_line(check, invoice), render.check_line(check)]
    for verdict in ("ok", "review", "block"):
        lines.append(render.verdict_words(verdict, []))
    assert english_in("\n".join(lines)) == []
    amount = render.check_line({"name": "boleto.amount_matches_nfse", "outcome": "fail"},
                               invoice)
    assert amount == ("FALHOU: valor do boleto = valor líquido da NFS-e (boleto R$ 1.361,01, "
                      "valor líquido da NFS-e R$ 1.088,81)")
    assert render.verdict_words("ok", [{"name": "authenticity.issnet", "outcome": "pass"},
                                       {"name": "email.authentication", "outcome": "pass"}]) \
        == "ok para pagar"


@pytest.mark.slow
def test_the_cli_tables_and_cards_are_portuguese(store):
    cfg, ingest_out = store
    assert "FALHOU: valor do boleto = valor líquido da NFS-e (boleto R$ 1.361,01, valor " \
           "líquido da NFS-e R$ 1.088,81)" in ingest_out
    assert "duplicada: esta NFS-e já está guardada como fatura #1" in ingest_out
    assert re.search(r"resumo: 11 NÃO PAGAR, 8 ok - não conferida na prefeitura", ingest_out)
    assert re.search(r"resumo: .*, 1 revisar\b", ingest_out)
    assert english_in(ingest_out) == []
    listing = run_cli("invoices", "--config", str(cfg), env=WIDE).stdout
    assert "R$ 9.814,31" in listing and "9814.31" not in listing
    assert english_in(listing) == []
    ids = [obj["id"] for obj in json_lines(run_cli("invoices", "--json", "--config",
                                                   str(cfg)).stdout)]
    assert len(ids) == 20  # 8 genuine, 11 tampered, 1 for review (the duplicate is not a bill)
    for done in run_clis(*(("show", str(inv_id), "--config", str(cfg)) for inv_id in ids)):
        card = done.stdout
        assert "Valor: R$" in card and "verificações (falhas primeiro):" in card
        assert english_in(card) == [], card


@pytest.mark.slow
def test_the_reports_are_portuguese(store):
    cfg, _ = store
    years = ("2025", "2026")
    done = run_clis(*(("report", "--year", year, "--format", form, "--config", str(cfg))
                      for year in years for form in ("html", "csv")))
    for year, html_done, csv_done in zip(years, done[::2], done[1::2], strict=True):
        html = html_done.stdout
        assert english_in(visible(html)) == [], year
        raw = csv_done.stdout
        rows = list(csv.DictReader(io.StringIO(raw.lstrip("\ufeff")), delimiter=";"))
        assert english_in(raw) == [], year
        blocked = [r for r in rows if r["veredito"] == "NÃO PAGAR"]
        if year == "2025":
            assert {r["fornecedor"] for r in rows} == {"SERPRO"}
            assert any("valor do boleto = valor líquido da NFS-e" in r["conferências com falha"]
                       for r in blocked)


def test_every_alert_is_portuguese_and_has_no_terminal_command(store):
    cfg, _ = store
    config = config_mod.load(cfg)
    engine = open_store(config.database_url)
    with Session(engine) as s:
        for day in (date(2026, 4, 15), date(2026, 4, 25), date(2026, 12, 11)):
            evaluate_time_rules(s, config, day)
        s.commit()
        alerts = s.exec(select(Alert)).all()
    kinds = {a.kind for a in alerts}
    assert {"new", "block", "due", "overdue", "missing", "unread"} <= kinds, kinds
    for a in alerts:
        text = f"{a.subject}\n{a.body_text}\n{visible(a.body_html)}"
        assert not TERMINAL.search(text), (a.kind, TERMINAL.search(text))
        assert "O que fazer:" in a.body_text, a.kind
        assert english_in(text) == [], (a.kind, english_in(text))


@pytest.mark.slow
def test_the_json_contract_keeps_english_details_and_its_keys(store):
    cfg, _ = store
    listed = json_lines(run_cli("invoices", "--json", "--config", str(cfg)).stdout)
    forged = next(o for o in listed if any(c["name"] == "boleto.amount_matches_nfse"
                                           and c["outcome"] == "fail" for c in o["checks"]))
    shown = json.loads(run_cli("show", str(forged["id"]), "--json", "--config",
                               str(cfg)).stdout)
    # the contract's keys, plus the desk's own key (what people decided), added beside them
    assert set(shown) == {"id", "vendor", "contract_number", "reference_month", "due_date",
                          "nfse", "boleto", "checks", "verdict", "verification_link", "desk"}
    check = next(c for c in shown["checks"] if c["name"] == "boleto.amount_matches_nfse")
    assert set(check) == {"name", "outcome", "detail"}
    assert check["detail"].startswith("boleto R$ 1.361,01, NFS-e net R$ 1.088,81")
