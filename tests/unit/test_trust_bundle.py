"""The shipped trust bundle: what the index says it holds, each chain, and a real signer."""

from __future__ import annotations

import hashlib
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from parsers.nfse import Nfse
from parsers.xmldsig import SignatureResult, signer_cnpj
from pipeline.checks.signers import judge
from pipeline.config.trust import ICP_BUNDLE, WEB_BUNDLE, read_pems, shipped_trust

TRUST = Path(str(resources.files("pipeline.config.trust")))
REAL = Path(__file__).resolve().parents[1] / "data" / "serprorfbv5-signer.cert.pem"
# When the real note this certificate signed was authorised (its protocol's dhRecbto).
REAL_SIGNED_AT = datetime.fromisoformat("2021-07-22T09:51:46-03:00")


def _bundle(name: str) -> list[x509.Certificate]:
    return read_pems((TRUST / name).read_bytes(), name)


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


def _fp(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def test_the_index_lists_every_certificate_with_its_fingerprint_and_source():
    index = tomllib.loads((TRUST / "index.toml").read_text("utf-8"))["certificate"]
    shipped = {(name, _fp(c)): c for name in (ICP_BUNDLE, WEB_BUNDLE) for c in _bundle(name)}
    listed = {(e["bundle"], e["sha256"]): e for e in index}
    assert set(listed) == set(shipped)
    for key, entry in listed.items():
        cert = shipped[key]
        assert entry["name"] == _cn(cert)
        assert entry["kind"] == ("root" if cert.subject == cert.issuer else "intermediate")
        assert entry["source"] and entry["cross_checked"]


def test_the_bundle_holds_the_roots_and_serpros_e_cnpj_issuer():
    names = {_cn(c) for c in _bundle(ICP_BUNDLE)}
    assert {"Autoridade Certificadora Raiz Brasileira v5",
            "Autoridade Certificadora Raiz Brasileira v10",
            "AC Secretaria da Receita Federal do Brasil v4",
            "Autoridade Certificadora SERPRORFBv5"} <= names
    by_name = {_cn(c): c for c in _bundle(ICP_BUNDLE)}
    # Pinned as ITI's v5 root by independent public projects (see index.toml).
    assert _fp(by_name["Autoridade Certificadora Raiz Brasileira v5"]) == (
        "caa53fc6091c6951887c976e378f6ef89aa6377c55d97b6475422b71ed7e9b17")


@pytest.mark.parametrize("bundle", [ICP_BUNDLE, WEB_BUNDLE])
def test_every_intermediate_is_signed_by_its_parent_up_to_a_shipped_root(bundle):
    certs = _bundle(bundle)
    by_subject = {c.subject: c for c in certs}
    for cert in certs:
        current, hops = cert, 0
        while current.subject != current.issuer:
            parent = by_subject[current.issuer]  # KeyError: a parent missing from the bundle
            current.verify_directly_issued_by(parent)
            current, hops = parent, hops + 1
            assert hops < 5
        current.verify_directly_issued_by(current)  # a self-signed root


def _real_result(signed_at: datetime) -> SignatureResult:
    cert = x509.load_pem_x509_certificate(REAL.read_bytes())
    return SignatureResult("#NFe", True, "as stored", _cn(cert), signer_cnpj(cert), None, None,
                           signed_at=signed_at.isoformat(),
                           certificates=(cert.public_bytes(Encoding.DER),))


def _note(provider: str) -> Nfse:
    """A note by `provider` issued in Queimados (RJ), where no authority is configured."""
    zero = Decimal("0.00")
    return Nfse(layout="nacional-1.00", number="1", verification_code=None, access_key=None,
                issued_at=None, competence=None, provider_cnpj=provider, provider_name=None,
                provider_municipal_registration=None, taker_cnpj=None, taker_name=None,
                services_amount=zero, deductions_amount=zero, iss_amount=None,
                iss_withheld=False, retentions_amount=zero, net_amount=zero, description=None,
                service_item=None, municipality_code="3304144", signature_count=1,
                issuer_municipalities=("3304144",))


def test_a_real_serprorfbv5_signer_chains_to_the_shipped_root_when_it_signed():
    # Only the certificate (public data) and the shipped bundle: no network, no extra CA.
    verdict = judge(_real_result(REAL_SIGNED_AT), _note("09437886000100"), shipped_trust())
    assert verdict.outcome == "pass", verdict.detail
    assert "signed as the provider" in verdict.detail
    assert "Autoridade Certificadora SERPRORFBv5" in verdict.detail


def test_the_same_certificate_is_refused_for_a_date_it_was_not_valid():
    late = datetime(2023, 6, 1, tzinfo=UTC)  # expired 2022-01-18: a note "signed" after that
    verdict = judge(_real_result(late), _note("09437886000100"), shipped_trust())
    assert verdict.outcome == "fail" and "2023-06-01" in verdict.detail


def test_the_real_signer_is_not_an_authority_for_someone_elses_note():
    verdict = judge(_real_result(REAL_SIGNED_AT), _note("33683111000107"), shipped_trust())
    assert verdict.outcome == "unknown"
    assert "COMERCIAL HELLO BRASIL LTDA" in verdict.detail and "[authenticity.issuers]" in \
        verdict.detail
