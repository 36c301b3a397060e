"""`confere ingest --json` over fixtures/signers: the real signature shapes and a cancelled note.

Expectations come from fixtures/signers/manifest.json (the generator's own inputs).
"""

from __future__ import annotations

import json

import pytest

from conftest import DEMO_CONFIG, FIXTURES, json_lines, run_cli

SIGNERS = json.loads((FIXTURES / "signers" / "manifest.json").read_text("utf-8"))


def _ingest(tmp, config: str) -> dict[str, dict]:
    cfg = tmp / "confere.toml"
    cfg.write_text(config.format(db=f"sqlite:///{tmp / 'confere.db'}", blobs=tmp / "blobs"))
    files = [str(FIXTURES / c["file"]) for c in SIGNERS]
    lines = json_lines(run_cli("ingest", "--json", "--config", str(cfg), *files).stdout)
    assert len(lines) == len(files)
    return {c["case"]: line for c, line in zip(SIGNERS, lines, strict=True)}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> dict[str, dict]:
    return _ingest(tmp_path_factory.mktemp("signers"), DEMO_CONFIG)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c["case"] for c in SIGNERS])
def test_each_shape_gets_its_verdict(ingested, case):
    expect = next(c for c in SIGNERS if c["case"] == case)["expect"]
    line = ingested[case]
    assert line["status"] == "invoice", line["reason"]
    checks = {c["name"]: c for c in line["invoice"]["checks"]}
    deciding = checks[expect["failed_check"]]
    assert deciding["outcome"] == expect["check_outcome"], deciding
    assert line["invoice"]["verdict"] == expect["verdict"], deciding


def test_the_detail_says_who_signed_and_in_what_role(ingested):
    def detail(case: str, name: str = "nfse.signature") -> str:
        return next(c["detail"] for c in ingested[case]["invoice"]["checks"] if c["name"] == name)

    assert "DISTRITO FEDERAL:00394601000126 signed as the issuing authority of Distrito " \
        "Federal" in detail("signer-municipality-only")
    assert "*.nfse.gov.br signed as the national NFS-e system" in detail("signer-national-only")
    assert "self-signed" in detail("signer-self-signed-forgery")
    unrelated = detail("signer-unrelated-company")
    assert "FULANO SERVICOS LTDA" in unrelated and "[authenticity.issuers]" in unrelated
    assert detail("cancelled-note", "nfse.not_cancelled").startswith("nota cancelada")
    assert "2027-06-25" in detail("cancelled-note", "nfse.not_cancelled")


def test_a_cancelled_note_is_blocked_even_though_its_signature_holds(ingested):
    checks = {c["name"]: c["outcome"] for c in ingested["cancelled-note"]["invoice"]["checks"]}
    assert checks["nfse.signature"] == "pass" and checks["nfse.not_cancelled"] == "fail"


@pytest.mark.slow
def test_without_the_test_cas_no_shape_is_ok(tmp_path):
    # The same mail judged with the shipped bundle only: the test PKI is not ICP-Brasil.
    plain = DEMO_CONFIG.split("[authenticity]")[0]
    lines = _ingest(tmp_path, plain)
    assert all(line["invoice"]["verdict"] != "ok" for line in lines.values())
    forged = lines["signer-self-signed-forgery"]["invoice"]
    assert forged["verdict"] == "block"
