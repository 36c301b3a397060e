"""The desk at the command line, as a new user meets it: `confere init`'s starter configuration,
real sample emails, and the approve / show / invoices / documents / audit / users commands."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, TEST_CAS, json_lines, run_cli, run_clis

GENUINE_1 = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"
GENUINE_2 = FIXTURES / "mailbox" / "genuine-02-abrasf-namespaced.eml"
FORGED = FIXTURES / "mailbox" / "tampered-check-digit.eml"


def starter(tmp_path: Path) -> str:
    """`confere init`'s file as written (no banks configured, the store beside it), trusting
    the fixtures' test PKI as a real install trusts the shipped ICP-Brasil roots."""
    cfg = tmp_path / "confere.toml"
    run_cli("init", "--config", str(cfg))
    with cfg.open("a", encoding="utf-8") as f:
        f.write(f'\n[authenticity]\nsignature_cas = ["{TEST_CAS.as_posix()}"]\n')
    return str(cfg)


def ingest(cfg: str, *files: Path) -> list[dict]:
    return json_lines(run_cli("ingest", "--json", "--config", cfg, *map(str, files)).stdout)


def checks_of(invoice: dict) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in invoice["checks"]}


@pytest.mark.slow
def test_one_approval_makes_the_next_bill_from_an_unseen_bank_ok(tmp_path):
    cfg = starter(tmp_path)
    [first] = ingest(cfg, GENUINE_1)
    assert first["invoice"]["verdict"] == "review"
    assert checks_of(first["invoice"])["boleto.bank_allowed"] == "unknown"
    said = run_cli("approve", "1", "--reason", "Banco do Brasil confirmado com o SERPRO",
                   "--config", cfg).stdout
    assert "aprovada" in said and "banco 001" in said
    [second] = ingest(cfg, GENUINE_2)
    assert second["invoice"]["boleto"]["bank_code"] == first["invoice"]["boleto"]["bank_code"]
    assert second["invoice"]["verdict"] == "ok"
    assert checks_of(second["invoice"])["boleto.bank_allowed"] == "pass"
    [entry] = json_lines(run_cli("audit", "--json", "--config", cfg).stdout)
    assert {k: entry[k] for k in ("invoice_id", "action", "actor", "reason")} == {
        "invoice_id": 1, "action": "approve", "actor": getpass.getuser(),
        "reason": "Banco do Brasil confirmado com o SERPRO"}
    assert entry["before"]["state"] == "open" and entry["after"]["state"] == "approved"
    assert entry["at"].startswith(date.today().isoformat()[:4])
    # approving twice, or approving what is ok, is refused with a message and exit code 2
    again = run_cli("approve", "1", "--reason", "de novo", "--config", cfg, check=False)
    assert again.returncode == 2 and "already approved" in again.stderr
    ok = run_cli("approve", "2", "--reason", "x", "--config", cfg, check=False)
    assert ok.returncode == 2 and "nothing to approve" in ok.stderr
    assert len(json_lines(run_cli("audit", "--json", "--config", cfg).stdout)) == 1


@pytest.mark.slow
def test_show_opens_with_a_card_and_lists_failed_checks_first(tmp_path):
    cfg = starter(tmp_path)
    [line] = ingest(cfg, GENUINE_1)
    out = run_cli("show", "1", "--config", cfg).stdout
    card, _, checks = out.partition("verificações")
    assert "REVISAR: o banco 001 nunca apareceu numa fatura aceita deste fornecedor" in card
    assert "Valor: R$ 10.738,04" in card
    assert "Vencimento: 20/04/2026" in card
    assert "Pagamento: aguarda aprovação" in card
    digits = line["invoice"]["boleto"]["digitable_line"]
    printed = re.search(r"Linha digitável: ([\d. ]+)", card).group(1).strip()
    assert printed.replace(".", "").replace(" ", "") == digits
    assert re.fullmatch(r"\d{5}\.\d{5} \d{5}\.\d{6} \d{5}\.\d{6} \d \d{14}", printed)
    assert "Pix copia e cola" not in card  # not fit to pay yet
    # one line per check, "outcome: what it compares", failed first, then not verified
    outcomes = [r.strip().partition(":")[0] for r in checks.splitlines()[1:] if r.strip()]
    assert outcomes[0] == "não verificado" and "não verificado" not in outcomes[1:]
    assert outcomes.index("não conferido") > outcomes.index("conferido")
    run_cli("approve", "1", "--reason", "confirmado", "--config", cfg)
    card = run_cli("show", "1", "--config", cfg).stdout.partition("verificações")[0]
    assert "Decisão: aprovada por" in card and "Pix copia e cola: 000201" in card
    shown = json.loads(run_cli("show", "1", "--json", "--config", cfg).stdout)
    assert shown["desk"]["state"] == "approved" and shown["desk"]["fit_to_pay"] is True


@pytest.mark.slow
def test_recheck_after_the_bank_is_configured(tmp_path):
    cfg = starter(tmp_path)
    ingest(cfg, GENUINE_1, GENUINE_2)
    text = Path(cfg).read_text("utf-8").replace("banks = []", 'banks = ["001"]')
    Path(cfg).write_text(text, "utf-8")
    assert json_lines(run_cli("recheck", "--all", "--json", "--config", cfg).stdout) == [
        {"id": 1, "old_verdict": "review", "new_verdict": "ok"},
        {"id": 2, "old_verdict": "review", "new_verdict": "ok"}]
    said = run_cli("recheck", "2", "--config", cfg).stdout
    assert "1 fatura(s) verificada(s) de novo, 0 mudaram" in said
    assert [e["action"] for e in json_lines(run_cli("audit", "--json", "--config", cfg).stdout)
            ] == ["recheck", "recheck"]
    assert run_cli("recheck", "--config", cfg, check=False).returncode != 0


@pytest.mark.slow
def test_invoices_by_due_date_with_filters_and_payment(tmp_path, demo_config):
    cfg = str(demo_config)
    ingest(cfg, GENUINE_2, FORGED, GENUINE_1)
    listed = json_lines(run_cli("invoices", "--json", "--config", cfg).stdout)
    dues = [i["due_date"] for i in listed]
    assert dues == sorted(dues) and len(listed) == 3
    by_verdict = {i["verdict"]: i["id"] for i in listed}
    forged, april = by_verdict["block"], next(i["id"] for i in listed
                                              if i["reference_month"] == "2026-04")
    blocked, of_april = run_clis(("invoices", "--json", "--verdict", "block", "--config", cfg),
                                 ("invoices", "--json", "--month", "2026-04", "--config", cfg))
    assert [i["id"] for i in json_lines(blocked.stdout)] == [forged]
    assert [i["id"] for i in json_lines(of_april.stdout)] == [april]
    run_cli("paid", str(april), "--on", "2026-05-19", "--config", cfg)
    paid = json_lines(run_cli("invoices", "--json", "--status", "paid", "--config", cfg).stdout)
    assert [(i["id"], i["desk"]["paid_on"]) for i in paid] == [(april, "2026-05-19")]
    payable = json_lines(run_cli("invoices", "--json", "--status", "payable", "--config",
                                 cfg).stdout)
    assert {i["id"] for i in payable} == {i["id"] for i in listed} - {april, forged}
    buckets = {}
    dues = ("overdue", "week", "later")
    for due, done in zip(dues, run_clis(*(("invoices", "--json", "--due", due, "--config", cfg)
                                          for due in dues)), strict=True):
        for i in json_lines(done.stdout):
            buckets[i["id"]] = (due, i["due_date"])
    assert set(buckets) == {i["id"] for i in listed} - {april}  # a paid bill is not due
    today = date.today().isoformat()
    assert all((d < today) == (due == "overdue") for due, d in buckets.values())
    table = run_cli("invoices", "--config", cfg).stdout
    assert "situação" in table and "paga em 19/05/2026" in table and "NÃO PAGAR" in table
    bad = run_cli("invoices", "--month", "2026-13", "--config", cfg, check=False)
    assert bad.returncode != 0 and "YYYY-MM" in bad.stderr


@pytest.mark.slow
def test_documents_writes_the_stored_files(tmp_path, demo_config):
    cfg = str(demo_config)
    ingest(cfg, GENUINE_1)
    out = tmp_path / "docs"
    written = json_lines(run_cli("documents", "1", "--out", str(out), "--json", "--config",
                                 cfg).stdout)
    kinds = {w["kind"]: Path(w["path"]) for w in written}
    assert set(kinds) >= {"email", "boleto_pdf", "nfse_pdf", "nfse_xml"}
    assert kinds["email"].read_bytes() == GENUINE_1.read_bytes()
    assert kinds["boleto_pdf"].read_bytes().startswith(b"%PDF")
    assert kinds["nfse_pdf"].read_bytes().startswith(b"%PDF")
    assert b"<" in kinds["nfse_xml"].read_bytes()[:200]
    for w in written:
        path = Path(w["path"])
        assert path.parent == out
        assert hashlib.sha256(path.read_bytes()).hexdigest() == w["sha256"]


@pytest.mark.slow
def test_override_of_a_block_asks_to_confirm(tmp_path, demo_config):
    cfg = str(demo_config)
    [line] = ingest(cfg, FORGED)
    assert line["invoice"]["verdict"] == "block"
    proc = subprocess.run(
        [sys.executable, "-c", "from pipeline.cli.main import run; run()", "override", "1",
         "--reason", "o SERPRO confirmou", "--config", cfg],
        input="n\n", capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode != 0 and "Liberar o pagamento" in proc.stderr
    assert run_cli("audit", "--json", "--config", cfg).stdout == ""
    said = run_cli("override", "1", "--reason", "o SERPRO confirmou", "--yes", "--config",
                   cfg).stdout
    assert "liberada" in said
    shown = json.loads(run_cli("show", "1", "--json", "--config", cfg).stdout)
    assert shown["verdict"] == "block" and shown["desk"]["state"] == "overridden"
    assert shown["desk"]["fit_to_pay"] is True


@pytest.mark.slow
def test_users_and_tokens_from_the_command_line(tmp_path, demo_config):
    cfg = str(demo_config)
    env = {"DESK_PASSWORD": "uma senha bem comprida"}
    said = run_cli("users", "add", "ana", "--role", "approver", "--password-env",
                   "DESK_PASSWORD", "--config", cfg, env=env).stdout
    assert "ana" in said
    again = run_cli("users", "add", "ana", "--role", "viewer", "--password-env",
                    "DESK_PASSWORD", "--config", cfg, env=env, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    unset = run_cli("users", "add", "bia", "--role", "viewer", "--password-env", "NOPE_X",
                    "--config", cfg, env={k: v for k, v in os.environ.items() if k != "NOPE_X"},
                    check=False)
    assert unset.returncode != 0 and "NOPE_X" in unset.stderr
    assert [(u["name"], u["role"]) for u in json_lines(
        run_cli("users", "list", "--json", "--config", cfg).stdout)] == [("ana", "approver")]
    token = run_cli("tokens", "add", "planilha", "--role", "viewer", "--config", cfg
                    ).stdout.strip()
    assert re.fullmatch(r"cft_[A-Za-z0-9_-]{40,}", token)
    listed = run_cli("tokens", "list", "--json", "--config", cfg).stdout
    assert token not in listed and json.loads(listed)["revoked_at"] is None
    run_cli("tokens", "revoke", "planilha", "--config", cfg)
    assert json.loads(run_cli("tokens", "list", "--json", "--config", cfg).stdout)["revoked_at"]
    stored = b"".join(p.read_bytes() for p in Path(cfg).parent.glob("confere.db*"))  # + WAL
    assert b"ana" in stored
    assert token.encode() not in stored and env["DESK_PASSWORD"].encode() not in stored
    actions = [e["action"] for e in json_lines(
        run_cli("audit", "--json", "--config", cfg).stdout)]
    assert actions == ["token.revoke", "token.add", "user.add"]
