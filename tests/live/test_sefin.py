"""The national NFS-e API against the stand-in: GET /nfse/{chave}, gzip + base64 XML."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from parsers.errors import IssuerError
from pipeline.issuers.sefin import decode_answer, gunzip_limited

from conftest import FIXTURES
from harness.issuers import verify, write_config
from harness.standin import Pki, StandIn, State, load_fixture_notes

NATIONAL_XML = FIXTURES / "documents" / "genuine-06-nacional-100.nfse.xml"
KEY = "53001082233683111000107000000000146126083589988923"


@pytest.fixture(autouse=True)
def _password(p12_password: None) -> None:
    """Every test here runs with the certificate password set."""


@pytest.mark.slow
def test_genuine_national_note_passes(stored: Path, pki: Pki, server: StandIn) -> None:
    checks, verdict, _inv = verify(write_config(stored, pki, server), layout="nacional")
    assert checks["authenticity.sefin"].startswith("pass"), checks["authenticity.sefin"]
    assert "authenticity.issnet" not in checks
    assert verdict == "ok"
    req = server.state.requests[-1]
    assert req["method"] == "GET" and req["path"] == f"/SefinNacional/nfse/{KEY}"
    assert req["client"].endswith(":12345678000195")


def test_national_amount_differs_is_block(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "different_amount"
    checks, verdict, _inv = verify(write_config(stored, pki, server), layout="nacional")
    detail = checks["authenticity.sefin"]
    assert detail.startswith("fail") and "net_amount" in detail and "99999.99" in detail
    assert verdict == "block"


def test_national_not_found_is_block(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "not_found"
    checks, verdict, _inv = verify(write_config(stored, pki, server), layout="nacional")
    assert checks["authenticity.sefin"].startswith(f"fail: the national NFS-e (Sefin) has no "
                                                   f"access key {KEY}")
    assert verdict == "block"


def test_national_down_then_back(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "503"
    config = write_config(stored, pki, server, retries=2)
    checks, verdict, _inv = verify(config, layout="nacional")
    assert checks["authenticity.sefin"].startswith("unknown") and verdict == "review"
    assert len(server.state.requests) == 2
    server.state.mode = "normal"
    checks, verdict, _inv = verify(config, layout="nacional", force=False)
    assert checks["authenticity.sefin"].startswith("pass") and verdict == "ok"


def test_national_server_error_is_unknown(stored: Path, pki: Pki, server: StandIn) -> None:
    server.state.mode = "fault"
    checks, verdict, _inv = verify(write_config(stored, pki, server, retries=1),
                                   layout="nacional")
    assert checks["authenticity.sefin"].startswith("unknown") and "HTTP 500" in \
        checks["authenticity.sefin"]
    assert verdict == "review"


def test_no_certificate_national_link(stored: Path) -> None:
    from pipeline.config import settings as config_mod

    checks, verdict, _inv = verify(config_mod.load(stored / "base.toml"), layout="nacional")
    assert checks["authenticity.sefin"].startswith("skipped")
    assert f"https://www.nfse.gov.br/ConsultaPublica/?tpc=1&chave={KEY}" in \
        checks["authenticity.sefin"]
    assert verdict == "ok"


def test_decode_answer_round_trip() -> None:
    xml = NATIONAL_XML.read_bytes()
    body = json.dumps({"nfseXmlGZipB64": base64.b64encode(gzip.compress(xml)).decode()})
    assert decode_answer(body.encode()) == xml


@pytest.mark.parametrize("body", [b"not json", b'{"other": 1}', b'{"nfseXmlGZipB64": "%%%"}',
                                  b'{"nfseXmlGZipB64": "aGVsbG8="}'])
def test_decode_answer_refuses_garbage(body: bytes) -> None:
    with pytest.raises(IssuerError, match="nfseXmlGZipB64"):
        decode_answer(body)


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (6 * 1024 * 1024))
    with pytest.raises(IssuerError, match="inflates past"):
        gunzip_limited(bomb)


def test_state_holds_the_national_notes() -> None:
    state = load_fixture_notes(State())
    assert KEY in state.national and "276033" in state.abrasf
