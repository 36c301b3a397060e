"""ISSNet's SOAP web service against the stand-in: pass, fail, unknown, skipped, retries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.checks.issuer import pending
from pipeline.config import settings as config_mod
from pipeline.issuers.compare import NoteFacts, compare_notes
from pipeline.issuers.http import RateLimiter
from pipeline.issuers.issnet import Query, envelope, parse_page
from pipeline.issuers.links import issnet_link
from storage import BlobStore, open_store
from storage.verification_models import Verification

from conftest import DEMO_CONFIG, json_lines, run_cli
from harness.issuers import ABRASF_EML, ENV, verify, write_config
from harness.standin import (
    P12_PASSWORD,
    PASSWORD_ENV,
    Pki,
    StandIn,
    State,
    authenticity_toml,
    load_fixture_notes,
)


@pytest.fixture(autouse=True)
def _password(p12_password: None) -> None:
    """Every test here runs with the certificate password set."""


@pytest.mark.slow
def test_genuine_note_passes(stored: Path, pki: Pki, server: StandIn) -> None:
    checks, verdict, _inv = verify(write_config(stored, pki, server))
    assert checks["authenticity.issnet"].startswith("pass"), checks["authenticity.issnet"]
    assert verdict == "ok"
    req = server.state.requests[-1]
    assert req["method"] == "POST" and req["client"].endswith(":12345678000195")
    assert req["soapaction"] == '"http://nfse.abrasf.org.br/ConsultarNfseServicoTomado"'
    assert b"NumeroNfse&gt;276033" in req["body"] and b"33683111000107" in req["body"]


def test_issuer_amount_differs_is_block(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "different_amount"
    checks, verdict, _inv = verify(write_config(stored, pki, server))
    detail = checks["authenticity.issnet"]
    assert detail.startswith("fail") and "services_amount" in detail and "net_amount" in detail
    assert "99999.99" in detail and "number" not in detail.split("note: ")[1]
    assert verdict == "block"


def test_issuer_has_no_such_note_is_block(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "not_found"
    checks, verdict, _inv = verify(write_config(stored, pki, server))
    assert checks["authenticity.issnet"].startswith("fail: ISSNet has no note 276033")
    assert verdict == "block"


def test_soap_fault_is_unknown_and_not_retried(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "fault"
    checks, verdict, _inv = verify(write_config(stored, pki, server, retries=3))
    assert checks["authenticity.issnet"].startswith("unknown")
    assert "SOAP fault: Erro interno no servidor" in checks["authenticity.issnet"]
    assert verdict == "review"
    assert len(server.state.requests) == 1


def test_issuer_down_is_unknown_retried_then_passes(stored: Path, pki: Pki,
                                                     server: StandIn) -> None:
    server.state.mode = "503"
    config = write_config(stored, pki, server, retries=3)
    checks, verdict, _inv = verify(config)
    detail = checks["authenticity.issnet"]
    assert detail.startswith("unknown") and "HTTP 503" in detail and "3 attempt(s)" in detail
    assert "check by hand: https://df.issnetonline.com.br/" in detail
    assert verdict == "review"
    assert len(server.state.requests) == 3  # retried with backoff by tenacity
    engine = open_store(config.database_url)
    with Session(engine) as s:
        assert any(i.nfse_layout.startswith("abrasf") for i in pending(s, config))
        row = s.exec(select(Verification).where(Verification.outcome == "unknown")).first()
        assert row is not None and row.next_attempt_at is not None and row.attempts >= 1
    server.state.mode = "normal"
    checks, verdict, _inv = verify(config, force=False)  # due again (recheck_after = 0)
    assert checks["authenticity.issnet"].startswith("pass")
    assert verdict == "ok"


def test_unknown_waits_for_its_backoff(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "503"
    config = write_config(stored, pki, server, retries=1, recheck_after=3600)
    verify(config)
    asked = len(server.state.requests)
    server.state.mode = "normal"
    checks, _verdict, _inv = verify(config, force=False)  # not due yet: nobody is asked
    assert checks["authenticity.issnet"].startswith("unknown")
    assert len(server.state.requests) == asked
    checks, _verdict, _inv = verify(config, force=True)  # asked again on request
    assert checks["authenticity.issnet"].startswith("pass")


def test_answer_is_stored_and_not_asked_twice(stored: Path, pki: Pki, server: StandIn) -> None:
    config = write_config(stored, pki, server)
    verify(config)
    asked = len(server.state.requests)
    checks, verdict, inv = verify(config, force=False)
    assert len(server.state.requests) == asked
    assert checks["authenticity.issnet"].startswith("pass") and verdict == "ok"
    with Session(open_store(config.database_url)) as s:
        row = s.exec(select(Verification).where(Verification.invoice_id == inv.id,
                                                Verification.source == "issnet")).one()
        assert row.host == "127.0.0.1" and row.issuer_sha256 and json.loads(row.differences) == []
        assert b"<CompNfse" in BlobStore(config.blob_dir).get(row.issuer_sha256)


def test_hang_times_out_quickly(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "hang"
    config = write_config(stored, pki, server, retries=1, timeout=0.3, connect_timeout=0.3)
    checks, verdict, _inv = verify(config)
    assert checks["authenticity.issnet"].startswith("unknown")
    assert "no answer within 0.3 s" in checks["authenticity.issnet"]
    assert verdict == "review"


def test_paging_walks_to_the_note(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.filler_pages = 2
    checks, _verdict, _inv = verify(write_config(stored, pki, server))
    assert checks["authenticity.issnet"].startswith("pass")
    assert len(server.state.requests) == 3
    assert b"Pagina&gt;3" in server.state.requests[-1]["body"]


def test_wrong_client_certificate_is_a_clear_error(stored: Path, pki: Pki,
                                                   server: StandIn) -> None:
    config = write_config(stored, pki, server, p12=pki.rogue_p12, retries=3)
    checks, verdict, _inv = verify(config)
    detail = checks["authenticity.issnet"]
    assert detail.startswith("unknown: our client certificate: the TLS handshake failed"), detail
    assert "authenticity.pkcs12" in detail
    assert verdict == "review"
    assert server.state.requests == []


def test_untrusted_server_is_refused(stored: Path, pki: Pki, server: StandIn) -> None:
    checks, _verdict, _inv = verify(write_config(stored, pki, server, ca_bundle=None))
    assert "server's certificate is not trusted" in checks["authenticity.issnet"]
    assert server.state.requests == []


def test_missing_password_variable_is_named(stored: Path, pki: Pki, server: StandIn,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV)
    checks, _verdict, _inv = verify(write_config(stored, pki, server))
    assert f"${PASSWORD_ENV} is not set" in checks["authenticity.issnet"]
    assert P12_PASSWORD not in json.dumps(checks)


def test_no_certificate_is_skipped_with_link(stored: Path) -> None:
    config = config_mod.load(stored / "base.toml")
    checks, verdict, _inv = verify(config)
    detail = checks["authenticity.issnet"]
    assert detail.startswith("skipped: no certificate configured (authenticity.pkcs12)")
    assert "VerificaAutenticidade.aspx?" in detail and "NumeroNota=276033" in detail
    assert verdict == "ok"


@pytest.mark.slow
def test_ingest_with_certificate_end_to_end(tmp_path: Path, pki: Pki, server: StandIn) -> None:
    path = tmp_path / "confere.toml"
    path.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                       blobs=tmp_path / "blobs")
                    + authenticity_toml(pki, server), encoding="utf-8")
    server.state.mode = "different_amount"
    line = json_lines(run_cli("ingest", "--config", str(path), str(ABRASF_EML), "--json",
                              env={**os.environ, **ENV}).stdout)[0]
    inv = line["invoice"]
    issnet = next(c for c in inv["checks"] if c["name"] == "authenticity.issnet")
    assert issnet["outcome"] == "fail" and inv["verdict"] == "block"
    assert inv["verification_link"].startswith("https://df.issnetonline.com.br/online/")


def test_envelope_and_parse_page_round_trip() -> None:
    q = Query("12345678000195", "123", "276033", "33683111000107", None)
    body = envelope(q, 2)
    assert b"nfseCabecMsg" in body and b"&lt;Pagina&gt;2&lt;/Pagina&gt;" in body
    state = load_fixture_notes(State())
    from harness.standin import issnet_reply

    status, _ctype, reply = issnet_reply(state, body)
    notes, nxt, not_found = parse_page(reply, status)
    assert [n.number for n, _x in notes] == ["276033"] and nxt is None and not not_found


def test_compare_names_each_field() -> None:
    from datetime import date
    from decimal import Decimal

    mine = NoteFacts("0276033", "7Z3YC0Q3", None, "33683111000107", "12345678000195",
                     Decimal("10.00"), Decimal("9.00"), date(2026, 3, 1))
    theirs = NoteFacts("276033", "7z3yc0q3", None, "33683111000107", "12345678000196",
                       Decimal("10.00"), Decimal("9.50"), date(2026, 4, 1))
    assert [d.field for d in compare_notes(mine, theirs)] == [
        "taker_cnpj", "net_amount", "competence"]


def test_link_is_prefilled_and_escaped() -> None:
    link = issnet_link("https://x.example/p?im={im}&n={number}&c={code}&u={unknown}",
                       number="1", code="A B", municipal_registration="07/2", provider_cnpj=None)
    assert link == "https://x.example/p?im=07%2F2&n=1&c=A%20B&u="
    assert issnet_link("{number}", number="1", code=None, municipal_registration=None,
                       provider_cnpj=None) is None


def test_rate_limit_spaces_calls_per_host() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    limiter.wait("a.example")
    limiter.wait("a.example")
    limiter.wait("b.example")
    limiter.wait("a.example")
    assert slept == [2.0, 2.0]


def test_wait_doubles_while_the_issuer_stays_down(stored: Path, pki: Pki,
                                                  server: StandIn) -> None:
    config = write_config(stored, pki, server, retries=1, recheck_after=60)
    verify(config)  # a pass: the count of unanswered tries starts again
    server.state.mode = "503"
    waits = []
    for _ in range(2):
        _checks, _verdict, inv = verify(config)
        with Session(open_store(config.database_url)) as s:
            row = s.exec(select(Verification).where(Verification.invoice_id == inv.id,
                                                    Verification.source == "issnet")).one()
            waits.append((row.next_attempt_at - row.checked_at).total_seconds())
    assert waits == [60, 120]


def test_missing_certificate_file_is_named(stored: Path, pki: Pki, server: StandIn) -> None:
    # At load a missing file is refused (tests/e2e/test_config_errors.py); one removed after
    # the daemon started is named when the issuer is asked.
    absent = stored / "absent.p12"
    absent.write_bytes(pki.client_p12.read_bytes())
    config = write_config(stored, pki, server, p12=absent)
    absent.unlink()
    checks, verdict, _inv = verify(config)
    assert "cannot read the certificate" in checks["authenticity.issnet"]
    assert "absent.p12" in checks["authenticity.issnet"] and verdict == "review"
    assert server.state.requests == []
