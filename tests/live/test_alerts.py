"""Alert rules end to end: each kind is written once and arrives once at a real SMTP server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select

from parsers.errors import ConfigError
from pipeline.checks.record import record_checks
from pipeline.checks.vocabulary import Check
from pipeline.config import settings as config_mod
from pipeline.notify.delivery import deliver_pending
from pipeline.notify.rules import evaluate_time_rules
from storage import Invoice, open_store
from storage.alert_models import Alert
from storage.usage_models import Reconciliation, UsageEvent

from conftest import FIXTURES, json_lines, run_cli
from harness.smtp_server import ENV, PASSWORD, USERNAME, write_config

GENUINE_03 = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"  # 03/2026, due 2026-04-20
GENUINE_04 = FIXTURES / "mailbox" / "genuine-02-abrasf-namespaced.eml"  # 04/2026, due 05-20
FORGED = FIXTURES / "mailbox" / "tampered-check-digit.eml"


@pytest.fixture(autouse=True)
def _smtp_password(monkeypatch):
    """In-process deliveries read the SMTP password from the environment, as the CLI does."""
    monkeypatch.setenv("CONFERE_TEST_SMTP_PASSWORD", PASSWORD)


def ingest(cfg: Path, *files: Path) -> list[dict]:
    """Ingest through the real command line."""
    return json_lines(run_cli("ingest", "--json", "--config", str(cfg),
                              *map(str, files)).stdout)


def store(cfg: Path) -> tuple[config_mod.Config, object]:
    """The configuration and its migrated engine, for calling rules in-process."""
    config = config_mod.load(cfg)
    return config, open_store(config.database_url)


def evaluate(cfg: Path, today: date) -> list[str]:
    """Run the calendar rules as of `today`, in one committed transaction."""
    config, engine = store(cfg)
    with Session(engine) as s:
        keys = evaluate_time_rules(s, config, today)
        s.commit()
    return keys


def deliver(cfg: Path) -> None:
    """Deliver the outbox in-process (the CLI path is tested separately)."""
    config, engine = store(cfg)
    report = deliver_pending(engine, config)
    assert not report.failed, report.failed


def by_key(server) -> dict[str, object]:
    """Received messages by their X-Confere-Alert key; a key seen twice fails the test."""
    out: dict[str, object] = {}
    for msg in server.messages():
        key = msg["X-Confere-Alert"]
        assert key not in out, f"{key} delivered twice"
        out[key] = msg
    return out


def subject(msg) -> str:
    """The Subject, unfolded (the generator may fold a long one onto its next line)."""
    return str(msg["Subject"]).strip()


def text_of(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content()


def html_of(msg) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()


@pytest.mark.slow
def test_new_and_block_alerts_arrive_once_with_their_content(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port)
    ingest(cfg, GENUINE_03, FORGED)
    listed = json_lines(run_cli("alerts", "list", "--json", "--config", str(cfg)).stdout)
    assert sorted(a["kind"] for a in listed) == ["block", "new"]
    assert {a["status"] for a in listed} == {"pending"}

    proc = run_cli("alerts", "send", "--today", "2026-04-01", "--config", str(cfg), env=ENV)
    assert "sent 2" in proc.stdout
    got = by_key(smtp_server)
    assert set(got) == {"bill:1:new", "bill:2:block"}
    assert all(r.login == USERNAME for r in smtp_server.received)
    assert set(smtp_server.received[0].rcpt_tos) == {"financeiro@example.com.br",
                                                     "diretoria@example.com.br"}

    new = got["bill:1:new"]
    assert subject(new).startswith("Nova fatura SERPRO contrato 261074, 03/2026")
    assert "R$ 10.738,04" in subject(new)
    body = text_of(new)
    # The issuer was never asked and the email never authenticated: the alert says so, and
    # says what to do; no terminal command in an email.
    for fragment in ("nem tudo foi conferido: não conferida na prefeitura, e-mail não "
                     "autenticado", "Vencimento:        20/04/2026",
                     "00190.00009 02934.471828 86954.453170 4 14220001073804",
                     "NumeroNota=276033&CodigoVerificacao=7Z3YC0Q3",
                     "O que fazer: antes de pagar, confira a nota no site do emissor"):
        assert fragment in body
    assert "Todas as conferências passaram" not in body
    assert "confere show" not in body and "confere show" not in html_of(new)
    assert "R$ 10.738,04" in html_of(new)
    assert "ok - não conferida na prefeitura / e-mail não autenticado" in html_of(new)
    names = sorted(p.get_filename() for p in new.iter_attachments())
    assert names == ["boleto_261074_032026.pdf", "nfse_276033.pdf", "nfse_276033.xml"]
    assert new["Message-ID"].strip() == next(a["message_id"] for a in listed if a["kind"] == "new")

    block = got["bill:2:block"]
    assert subject(block).startswith("NÃO PAGAR")
    text = text_of(block)
    assert "NÃO PAGUE esta fatura" in text
    assert "FALHOU: dígitos verificadores da linha digitável conferem" in text
    assert "[boleto.check_digits]" not in text  # the check's code is for logs and --json
    assert list(block.iter_attachments()) == []  # a forged boleto is not handed round
    assert "dígitos verificadores" in html_of(block)

    # Sending again, or ingesting the same emails again, sends nothing more.
    assert "sent 0" in run_cli("alerts", "send", "--today", "2026-04-01", "--config", str(cfg),
                               env=ENV).stdout
    ingest(cfg, GENUINE_03, FORGED)
    deliver(cfg)
    assert len(smtp_server.messages()) == 2
    listed = json_lines(run_cli("alerts", "list", "--json", "--config", str(cfg)).stdout)
    assert {a["status"] for a in listed} == {"sent"} and len(listed) == 2


@pytest.mark.slow
def test_a_bill_needing_review_gets_a_review_alert(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port, contract="111111")  # not the bill's contract
    [line] = ingest(cfg, GENUINE_03)
    assert line["invoice"]["verdict"] == "review"
    deliver(cfg)
    [msg] = smtp_server.messages()
    assert msg["X-Confere-Alert"] == "bill:1:review"
    assert subject(msg).startswith("Revisar fatura SERPRO contrato 261074, 03/2026")
    text = text_of(msg)
    assert "precisa da revisão de uma pessoa" in text
    assert "FALHOU: o contrato citado no e-mail está configurado" in text


@pytest.mark.slow
def test_due_date_reminders_stop_once_the_bill_is_paid(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port, alerts_extra="kinds = ['due']")
    ingest(cfg, GENUINE_03, GENUINE_04)
    assert evaluate(cfg, date(2026, 4, 10)) == []  # 10 days left: not yet
    assert evaluate(cfg, date(2026, 4, 15)) == ["due:1:2026-04-20:5"]
    assert evaluate(cfg, date(2026, 4, 16)) == []  # same threshold: once
    assert evaluate(cfg, date(2026, 4, 19)) == ["due:1:2026-04-20:1"]
    assert evaluate(cfg, date(2026, 4, 21)) == []  # past due: no reminder
    assert "marcada como paga" in run_cli("paid", "2", "--config", str(cfg)).stdout
    assert evaluate(cfg, date(2026, 5, 19)) == []  # bill 2 is paid
    deliver(cfg)
    got = by_key(smtp_server)
    assert set(got) == {"due:1:2026-04-20:5", "due:1:2026-04-20:1"}
    assert subject(got["due:1:2026-04-20:5"]).startswith("Vence em 5 dias (20/04)")
    assert "vence amanhã e ainda não foi marcada como paga" in text_of(
        got["due:1:2026-04-20:1"])
    assert "O que fazer: pague até 20/04/2026" in text_of(got["due:1:2026-04-20:1"])
    assert "confere paid" not in text_of(got["due:1:2026-04-20:1"])


@pytest.mark.slow
def test_paid_refuses_a_blocked_bill_without_force(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port)
    ingest(cfg, FORGED)
    proc = run_cli("paid", "1", "--config", str(cfg), check=False)
    assert proc.returncode != 0 and "blocked" in proc.stderr
    run_cli("paid", "1", "--force", "--on", "2026-01-05", "--config", str(cfg))
    _config, engine = store(cfg)
    with Session(engine) as s:
        assert s.get(Invoice, 1).paid_at.date() == date(2026, 1, 5)
    run_cli("paid", "1", "--undo", "--config", str(cfg))
    with Session(engine) as s:
        assert s.get(Invoice, 1).paid_at is None


@pytest.mark.slow
def test_a_missing_monthly_bill_is_reported_after_day_d(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port, alerts_extra="kinds = ['missing']")
    ingest(cfg, GENUINE_03)
    assert evaluate(cfg, date(2026, 4, 12)) == []  # March's bill is there
    assert evaluate(cfg, date(2026, 5, 9)) == []  # April's may still come
    assert evaluate(cfg, date(2026, 5, 10)) == ["missing:serpro:261074:2026-04"]
    assert evaluate(cfg, date(2026, 5, 20)) == []
    deliver(cfg)
    [msg] = smtp_server.messages()
    assert subject(msg) == "Fatura não recebida: SERPRO contrato 261074, 04/2026"
    assert "competência 04/2026, ainda não chegou" in text_of(msg)
    assert "até o dia 10 de maio de 2026" in text_of(msg)


def _reconcile(cfg: Path, expected: str, outcome: str) -> None:
    """Stand in for `confere reconcile`: a reconciliation row and its reconcile.usage check."""
    _config, engine = store(cfg)
    with Session(engine) as s:
        inv = s.get(Invoice, 1)
        billed, exp = inv.services_cents, int(Decimal(expected) * 100)
        rec = s.exec(select(Reconciliation).where(Reconciliation.month == "2026-03")).first()
        rec = rec or Reconciliation(vendor="serpro", contract="261074", month="2026-03",
                                    billing="usage", outcome="", check_outcome="", detail="",
                                    breakdown="[]")
        rec.invoice_id, rec.expected_cents, rec.billed_cents = 1, exp, billed
        rec.difference_cents, rec.outcome, rec.check_outcome = billed - exp, outcome, "fail"
        s.add(rec)
        record_checks(s, inv, [Check("reconcile.usage", "fail",
                                     f"billed {billed / 100:.2f}, expected {expected}")])
        s.commit()


@pytest.mark.slow
def test_a_bill_above_what_it_should_cost_gets_an_overcharge_alert(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port, alerts_extra="kinds = ['over']")
    ingest(cfg, GENUINE_03)
    _reconcile(cfg, "9000.00", "over")
    assert evaluate(cfg, date(2026, 4, 2)) == ["over:1"]
    assert evaluate(cfg, date(2026, 4, 3)) == []
    deliver(cfg)
    [msg] = smtp_server.messages()
    assert subject(msg) == ("Cobrança acima do esperado: SERPRO contrato 261074, 03/2026 "
                              "(+R$ 1.738,04)")
    text = text_of(msg)
    assert "Esperado:          R$ 9.000,00" in text
    assert "Cobrado:           R$ 10.738,04" in text
    assert "valor cobrado = consumo medido" in text


@pytest.mark.slow
def test_a_bill_below_expected_is_no_overcharge(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port, alerts_extra="kinds = ['over']")
    ingest(cfg, GENUINE_03)
    _reconcile(cfg, "12000.00", "under")
    assert evaluate(cfg, date(2026, 4, 2)) == []


def test_missing_or_draft_declarations_warn_before_the_deadline(tmp_path, smtp_server):
    from pipeline.costs.metrics import Figures, save

    extra = ('billing = "metric"\ncompanies = ["12345678000195", "11222333000181"]\n'
             'metric_bands = [{upto = "1000000", fee = "900.00"}, {fee = "1500.00"}]')
    cfg = write_config(tmp_path, smtp_server.port, contract_extra=extra,
                       alerts_extra="kinds = ['declaration']")
    _config, engine = store(cfg)
    with Session(engine) as s:
        zero = Decimal("0")
        save(s, "serpro", "12345678000195", 2026,
             Figures(Decimal("500000"), zero, zero, zero), status="draft", source="form")
        s.commit()
    assert evaluate(cfg, date(2027, 1, 10)) == []  # 21 days before: not yet
    assert evaluate(cfg, date(2027, 1, 20)) == ["declaration:261074:2026"]
    assert evaluate(cfg, date(2027, 1, 25)) == []
    deliver(cfg)
    [msg] = smtp_server.messages()
    assert subject(msg) == ("Declaração pendente: SERPRO contrato 261074, ano 2026, "
                              "prazo 31/01/2027")
    text = text_of(msg)
    assert "Sem declaração: 11.222.333/0001-81." in text
    assert "Ainda em rascunho: 12.345.678/0001-95." in text
    assert "em 11 dias" in text


def test_a_forecast_above_budget_warns_once_a_month(tmp_path, smtp_server):
    extra = 'price_table = "serpro-integra-contador-2025-12"\nbudget = "50.00"'
    cfg = write_config(tmp_path, smtp_server.port, contract_extra=extra,
                       alerts_extra="kinds = ['forecast']")
    _config, engine = store(cfg)
    start = datetime(2026, 11, 2, 12, tzinfo=UTC)
    with Session(engine) as s:
        for i in range(200):  # 200 queries in the first days of November: ~R$ 48 so far
            s.add(UsageEvent(request_id=f"r{i}", occurred_at=start + timedelta(minutes=i),
                             month="2026-11", contract="261074", type="consulta", status=200,
                             billable=True))
        s.commit()
    assert evaluate(cfg, date(2026, 11, 4)) == []  # too early in the month to project
    assert evaluate(cfg, date(2026, 11, 15)) == ["forecast:261074:2026-11"]
    assert evaluate(cfg, date(2026, 11, 16)) == []
    deliver(cfg)
    [msg] = smtp_server.messages()
    assert subject(msg).startswith("Previsão acima do orçamento: SERPRO contrato 261074, "
                                     "11/2026")
    assert "acima do orçamento mensal de R$ 50,00" in text_of(msg)


def test_alert_settings_are_validated_by_name():
    with pytest.raises(ConfigError, match=r"alerts\.due_dayz: unknown key"):
        config_mod.from_dict({"alerts": {"due_dayz": [3]}}, Path("."))
    with pytest.raises(ConfigError, match=r"alerts\.due_days"):
        config_mod.from_dict({"alerts": {"due_days": [-1]}}, Path("."))
    with pytest.raises(ConfigError, match=r"alerts\.kinds"):
        config_mod.from_dict({"alerts": {"kinds": ["sms"]}}, Path("."))


@pytest.mark.slow
def test_the_password_is_read_from_the_environment_and_never_stored(tmp_path, smtp_server):
    cfg = write_config(tmp_path, smtp_server.port)
    ingest(cfg, GENUINE_03)
    proc = run_cli("alerts", "send", "--today", "2026-04-01", "--config", str(cfg),
                   check=False, env={"CONFERE_TEST_SMTP_PASSWORD": "wrong"})
    # A wrong password: the server refuses the login, the alert waits.
    assert proc.returncode == 1 and PASSWORD not in proc.stdout + proc.stderr
    proc = run_cli("alerts", "send", "--today", "2026-04-01", "--config", str(cfg), env=ENV)
    assert "sent 1" in proc.stdout and PASSWORD not in proc.stdout + proc.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    _config, engine = store(cfg)
    with Session(engine) as s:
        row = s.exec(select(Alert)).one()
        assert row.status == "sent" and row.attempts == 2 and row.last_error is None


# slow: an ingest and a CLI run for one branch; the rules' other tests stay in the fast subset.
@pytest.mark.slow
def test_no_alert_is_written_until_there_is_someone_to_tell(demo_config):
    ingest(demo_config, GENUINE_03, FORGED)  # the demo's configuration has no [alerts]
    assert run_cli("alerts", "list", "--json", "--config", str(demo_config)).stdout == ""
