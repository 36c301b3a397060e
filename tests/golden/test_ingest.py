"""`confere ingest --json` over the sample mailbox: the acceptance test of issue 2.

Expectations come from fixtures/manifest.json, which records the generator's own inputs
(never values read back by confere's parsers).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pipeline.checks.vocabulary import CHECKS

from conftest import DEMO_CONFIG, FIXTURES, cases, json_lines, manifest, run_cli

INVOICE_KEYS = {"vendor", "contract_number", "reference_month", "due_date", "nfse", "boleto",
                "checks", "verdict", "verification_link"}
NFSE_KEYS = {"layout", "number", "verification_code", "access_key", "issued_at", "competence",
             "provider_cnpj", "provider_name", "taker_cnpj", "services_amount",
             "deductions_amount", "iss_amount", "iss_withheld", "retentions_amount", "net_amount",
             "service_item", "municipality_code"}
BOLETO_KEYS = {"digitable_line", "barcode", "bank_code", "due_date", "amount", "barcode_read",
               "pix"}
PIX_KEYS = {"payload", "crc_valid", "merchant_name", "merchant_city", "amount", "key", "url",
            "txid"}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """The whole sample mailbox ingested once (files in manifest order)."""
    tmp = tmp_path_factory.mktemp("ingest")
    cfg = tmp / "confere.toml"
    cfg.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp / 'confere.db'}", blobs=tmp / "blobs"))
    files = [str(FIXTURES / c["file"]) for c in manifest()]
    proc = run_cli("ingest", "--json", "--config", str(cfg), *files)
    lines = json_lines(proc.stdout)
    assert len(lines) == len(files), proc.stderr
    by_case = {c["case"]: line for c, line in zip(manifest(), lines, strict=True)}
    return cfg, by_case


@pytest.mark.slow
def test_every_line_has_every_key(ingested):
    _cfg, lines = ingested
    for case, line in lines.items():
        assert set(line) == {"message", "status", "reason", "invoice"}, case
        assert set(line["message"]) == {"message_id", "from", "subject", "sha256"}, case
        inv = line["invoice"]
        if inv is None:
            continue
        assert set(inv) == INVOICE_KEYS, case
        if inv["nfse"] is not None:
            assert set(inv["nfse"]) == NFSE_KEYS, case
        if inv["boleto"] is not None:
            assert set(inv["boleto"]) == BOLETO_KEYS, case
            if inv["boleto"]["pix"] is not None:
                assert set(inv["boleto"]["pix"]) == PIX_KEYS, case


def test_message_sha256_is_of_the_raw_bytes(ingested):
    _cfg, lines = ingested
    for c in manifest():
        raw = (FIXTURES / c["file"]).read_bytes()
        assert lines[c["case"]]["message"]["sha256"] == hashlib.sha256(raw).hexdigest()


@pytest.mark.parametrize("case", [c["case"] for c in cases("genuine")])
def test_genuine_bill_is_ok_with_every_field(ingested, case):
    facts = next(c for c in manifest() if c["case"] == case)["facts"]
    line = ingested[1][case]
    assert line["status"] == "invoice", line["reason"]
    inv = line["invoice"]
    failing = [c for c in inv["checks"] if c["outcome"] in ("fail", "unknown")]
    assert inv["verdict"] == "ok", failing
    assert inv["contract_number"] == facts["contract_number"]
    assert inv["reference_month"] == facts["reference_month"]
    assert inv["due_date"] == facts["due_date"]
    n, fn = inv["nfse"], facts["nfse"]
    for key in ("layout", "number", "verification_code", "access_key", "competence",
                "provider_cnpj", "taker_cnpj", "services_amount", "deductions_amount",
                "iss_amount", "iss_withheld", "retentions_amount", "net_amount", "service_item",
                "municipality_code"):
        assert n[key] == fn[key], (case, key)
    b, fb = inv["boleto"], facts["boleto"]
    for key in ("digitable_line", "barcode", "bank_code", "due_date", "amount"):
        assert b[key] == fb[key], (case, key)
    assert b["barcode_read"] is True
    p, fp = b["pix"], facts["pix"]
    assert p["crc_valid"] is True
    for key in ("payload", "merchant_name", "amount", "url", "txid"):
        assert p[key] == fp[key], (case, key)
    by_name = {c["name"]: c["outcome"] for c in inv["checks"]}
    for name in ("email.sender_allowed", "nfse.signature", "boleto.check_digits",
                 "boleto.barcode_matches_line", "boleto.amount_matches_nfse", "pix.crc"):
        assert by_name[name] == "pass", (case, name)


@pytest.mark.parametrize("case", [c["case"] for c in cases("tampered")])
def test_tampered_bill_is_blocked_by_its_check(ingested, case):
    expect = next(c for c in manifest() if c["case"] == case)["expect"]
    line = ingested[1][case]
    assert line["status"] == "invoice", line["reason"]
    by_name = {c["name"]: c for c in line["invoice"]["checks"]}
    assert by_name[expect["failed_check"]]["outcome"] == "fail", by_name[expect["failed_check"]]
    assert line["invoice"]["verdict"] == "block"


@pytest.mark.parametrize("case", [c["case"] for c in cases("review")])
def test_review_bill_needs_a_person_and_is_never_blocked(ingested, case):
    expect = next(c for c in manifest() if c["case"] == case)["expect"]
    line = ingested[1][case]
    assert line["status"] == "invoice", line["reason"]
    checks = line["invoice"]["checks"]
    failed = [c["name"] for c in checks if c["outcome"] == "fail"]
    assert failed == [expect["failed_check"]], failed
    assert line["invoice"]["verdict"] == "review"
    by_name = {c["name"]: c["outcome"] for c in checks}
    for name in ("nfse.signature", "boleto.barcode_matches_line", "boleto.amount_matches_nfse",
                 "pix.crc", "nfse.pdf_matches_xml"):
        assert by_name[name] == "pass", (case, name)


@pytest.mark.parametrize("case", [c["case"] for c in cases("hostile")])
def test_hostile_email_is_quarantined_with_a_reason(ingested, case):
    line = ingested[1][case]
    assert line["status"] == "quarantined"
    assert line["reason"]
    assert line["invoice"] is None


@pytest.mark.parametrize("case", [c["case"] for c in cases("ignored")])
def test_non_bills_are_ignored(ingested, case):
    line = ingested[1][case]
    assert line["status"] == "ignored" and line["reason"]


@pytest.mark.parametrize("case", [c["case"] for c in cases("duplicate")])
def test_resent_bill_is_a_duplicate(ingested, case):
    line = ingested[1][case]
    assert line["status"] == "duplicate" and "already stored" in line["reason"]


@pytest.mark.slow
def test_same_message_twice_is_duplicate_and_stored_once(ingested):
    cfg, lines = ingested
    genuine = cases("genuine")[0]
    before = json_lines(run_cli("invoices", "--json", "--config", str(cfg)).stdout)
    again = json_lines(run_cli("ingest", "--json", "--config", str(cfg),
                               str(FIXTURES / genuine["file"])).stdout)
    assert again[0]["status"] == "duplicate"
    assert again[0]["invoice"]["verdict"] == lines[genuine["case"]]["invoice"]["verdict"]
    after = json_lines(run_cli("invoices", "--json", "--config", str(cfg)).stdout)
    assert len(after) == len(before)


def test_invoices_json_has_the_ingest_shape(ingested):
    cfg, lines = ingested
    listed = json_lines(run_cli("invoices", "--json", "--config", str(cfg)).stdout)
    stored = [line["invoice"] for line in lines.values() if line["status"] == "invoice"]
    assert len(listed) == len(stored)
    for obj in listed:
        obj.pop("id")
        assert obj.pop("desk")["state"] == "open"  # the desk's key, beside the contract's
        assert obj in stored


def test_quarantined_raw_bytes_are_kept(ingested):
    cfg, lines = ingested
    blobs = cfg.parent / "blobs"
    for c in cases("hostile"):
        sha = lines[c["case"]]["message"]["sha256"]
        kept = (blobs / sha[:2] / sha[2:4] / sha).read_bytes()
        assert kept == (FIXTURES / c["file"]).read_bytes()


@pytest.mark.slow
def test_thirty_megabytes_of_junk_named_boleto_pdf(tmp_path, demo_config):
    from fixtures.generate import huge_junk_email

    path = tmp_path / "huge.eml"
    huge_junk_email(path)
    good = FIXTURES / cases("genuine")[0]["file"]
    lines = json_lines(run_cli("ingest", "--json", "--config", str(demo_config), str(path),
                               str(good)).stdout)
    assert lines[0]["status"] == "quarantined"
    assert "boleto" in lines[0]["reason"]
    assert lines[1]["status"] == "invoice"  # the run went on


@pytest.mark.slow
def test_human_table_names_the_failing_check(ingested, tmp_path, demo_config):
    tampered = cases("tampered")[0]
    out = run_cli("ingest", "--config", str(demo_config), str(FIXTURES / tampered["file"])).stdout
    assert "NÃO PAGAR" in out
    # In words for people (the check's code is for logs and --json).
    assert f"FALHOU: {CHECKS[tampered['expect']['failed_check']]}" in out


def test_oversize_message_is_quarantined_without_parsing(tmp_path, demo_config):
    demo_config.write_text(demo_config.read_text().replace(
        "[limits]\n", "[limits]\nmax_message_bytes = 2000\n"))
    genuine = FIXTURES / cases("genuine")[0]["file"]
    line = json_lines(run_cli("ingest", "--json", "--config", str(demo_config),
                              str(genuine)).stdout)[0]
    assert line["status"] == "quarantined" and "over the 2,000 byte limit" in line["reason"]


@pytest.mark.slow
def test_a_message_left_pending_by_a_crash_is_judged_on_the_next_run(tmp_path, demo_config):
    from pipeline.config import settings as config
    from pipeline.ingest.ingestor import Ingestor
    from storage import open_store

    cfg = config.load(demo_config)
    genuine = FIXTURES / cases("genuine")[0]["file"]
    Ingestor(cfg, open_store(cfg.database_url), sandbox=None).store_raw(  # type: ignore[arg-type]
        genuine.read_bytes(), source="file", path=str(genuine))
    line = json_lines(run_cli("ingest", "--json", "--config", str(demo_config),
                              str(genuine)).stdout)[0]
    assert line["status"] == "invoice" and line["invoice"]["verdict"] == "ok"


def test_status_counts_the_quarantine(ingested):
    cfg, _lines = ingested
    out = run_cli("status", "--config", str(cfg)).stdout
    assert f"messages in quarantine: {len(cases('hostile'))}" in out


@pytest.mark.slow
def test_a_hostile_amount_is_quarantined_and_the_batch_goes_on(tmp_path, demo_config):
    from email import message_from_bytes

    genuine = FIXTURES / cases("genuine")[0]["file"]
    msg = message_from_bytes(genuine.read_bytes())
    for part in msg.walk():
        if (part.get_filename() or "").endswith(".xml"):
            xml = part.get_payload(decode=True).replace(
                b"<ValorDeducoes>", b"<ValorDeducoes>99999999999999999999", 1)
            part.set_payload(xml)
            del part["Content-Transfer-Encoding"]
            part["Content-Transfer-Encoding"] = "8bit"
    del msg["Message-ID"]
    msg["Message-ID"] = "<poison@serpro.gov.br>"
    poison = tmp_path / "poison.eml"
    poison.write_bytes(msg.as_bytes())
    lines = json_lines(run_cli("ingest", "--json", "--config", str(demo_config), str(poison),
                               str(genuine)).stdout)
    assert lines[0]["status"] == "quarantined" and "ValorDeducoes" in lines[0]["reason"]
    assert lines[1]["status"] == "invoice"


@pytest.mark.slow
def test_a_stored_bill_resent_with_another_boleto_is_quarantined_not_a_duplicate(demo_config):
    from email import message_from_bytes

    genuine = FIXTURES / cases("genuine")[0]["file"]
    other = FIXTURES / next(c for c in cases("tampered") if c["case"] == "tampered-bank")["file"]
    forged = message_from_bytes(genuine.read_bytes())
    other_boleto = next(p for p in message_from_bytes(other.read_bytes()).walk()
                        if (p.get_filename() or "").startswith("boleto"))
    for part in forged.walk():
        if (part.get_filename() or "").startswith("boleto"):
            part.set_payload(other_boleto.get_payload())
    del forged["Message-ID"]
    forged["Message-ID"] = "<resent-with-new-boleto@serpro.gov.br>"
    path = demo_config.parent / "forged.eml"
    path.write_bytes(forged.as_bytes())
    lines = json_lines(run_cli("ingest", "--json", "--config", str(demo_config), str(genuine),
                               str(path)).stdout)
    assert lines[0]["status"] == "invoice" and lines[0]["invoice"]["verdict"] == "ok"
    assert lines[1]["status"] == "quarantined"
    assert "different boleto" in lines[1]["reason"] and "do not pay" in lines[1]["reason"]
