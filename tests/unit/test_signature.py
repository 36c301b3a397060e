"""Offline XMLDSig verification: the sample notes, edits, algorithms, signer and validity."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from lxml import etree

from fixtures.keys import Identity
from fixtures.xmldsig import sign_enveloped
from parsers.xmldsig import DS, signer_cnpj, verify_signatures

from conftest import FIXTURES, cases

DOCS = FIXTURES / "documents"
KEYS = FIXTURES / "keys"
GENUINE = sorted(DOCS.glob("genuine-*.nfse.xml"))


def _load_key(name: str):
    return serialization.load_pem_private_key((KEYS / f"{name}.key.pem").read_bytes(), None)


def _identity(cn: str, start: datetime, end: datetime, cnpj_san: str | None = None) -> Identity:
    """SERPRO's test key under a certificate of the given term, issued by the test CA."""
    ca_cert = x509.load_pem_x509_certificate((KEYS / "ca.cert.pem").read_bytes())
    key = _load_key("serpro")
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end))
    if cnpj_san:
        other = x509.OtherName(x509.ObjectIdentifier("2.16.76.1.3.3"),
                               b"\x04\x0e" + cnpj_san.encode())
        builder = builder.add_extension(x509.SubjectAlternativeName([other]), critical=False)
    return Identity("test", key, builder.sign(_load_key("ca"), hashes.SHA256()))


def _resign(path, signer: Identity, algorithm: str = "rsa-sha1", exclusive: bool = False,
            issued: str | None = None) -> bytes:
    """The sample ABRASF note, its signature replaced by one of ours (dates optionally moved)."""
    root = etree.fromstring(path.read_bytes())
    for sig in [el for el in root.iter() if el.tag == f"{{{DS}}}Signature"]:
        sig.getparent().remove(sig)
    target = next(el for el in root.iter()
                  if isinstance(el.tag, str) and el.tag.endswith("InfDeclaracaoPrestacaoServico"))
    if issued:
        for el in target.iter():
            if isinstance(el.tag, str) and el.tag.endswith("DataEmissao"):
                el.text = issued
    sign_enveloped(target, signer, algorithm, exclusive)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@pytest.mark.parametrize("path", GENUINE, ids=lambda p: p.name.split(".")[0])
def test_every_signed_sample_verifies(path) -> None:
    results = verify_signatures(path.read_bytes())
    assert results and all(r.valid for r in results), [r.how for r in results]
    assert all(r.valid_then for r in results)
    assert any(r.signer_cnpj == "33683111000107" for r in results)


def test_reindented_sample_says_which_form_held() -> None:
    (result,) = verify_signatures((DOCS / "genuine-04-abrasf-reindented.nfse.xml").read_bytes())
    assert result.valid and result.how == "after removing whitespace-only text"


@pytest.mark.parametrize("path", GENUINE, ids=lambda p: p.name.split(".")[0])
def test_one_edited_value_fails(path) -> None:
    data = path.read_bytes()
    for tag in (b"ValorServicos>", b"vServ>"):
        start = data.find(tag)
        if start > 0 and data[start - 1:start] != b"/":
            break
    value_at = start + len(tag)
    edited = data[:value_at] + b"9" + data[value_at:]
    results = verify_signatures(edited)
    assert any(not r.valid for r in results)
    assert any("Digest mismatch" in r.how for r in results if not r.valid)


def test_tampered_fixture_fails() -> None:
    case = next(c for c in cases("tampered") if c["case"] == "tampered-signature")
    xml = FIXTURES / next(d for d in case["documents"] if d.endswith(".xml"))
    assert not verify_signatures(xml.read_bytes())[0].valid


@pytest.mark.parametrize(("algorithm", "exclusive"), [("rsa-sha1", False), ("rsa-sha256", True),
                                                      ("rsa-sha256", False), ("rsa-sha1", True)])
def test_algorithms_and_canonicalisations(algorithm: str, exclusive: bool) -> None:
    signer = _identity("SERPRO TESTE:33683111000107", datetime(2024, 1, 1, tzinfo=UTC),
                       datetime(2028, 1, 1, tzinfo=UTC))
    data = _resign(GENUINE[1], signer, algorithm, exclusive)
    (result,) = verify_signatures(data)
    assert result.valid, result.how
    assert result.signer_cnpj == "33683111000107"  # from the CN suffix


def test_expired_today_but_valid_when_signed_holds() -> None:
    signer = _identity("SERPRO ANTIGO", datetime(2020, 1, 1, tzinfo=UTC),
                       datetime(2021, 12, 31, tzinfo=UTC), cnpj_san="33683111000107")
    data = _resign(GENUINE[0], signer, issued="2021-06-15")
    (result,) = verify_signatures(data)
    assert result.valid, result.how
    assert result.valid_then is True and result.signed_at.startswith("2021-06-15")
    assert result.signer_cnpj == "33683111000107"  # from the ICP-Brasil otherName
    assert "valid when signed 2021-06-15" in result.describe()


def test_certificate_not_valid_when_signed_fails() -> None:
    signer = _identity("SERPRO FUTURO:33683111000107", datetime(2027, 1, 1, tzinfo=UTC),
                       datetime(2029, 1, 1, tzinfo=UTC))
    (result,) = verify_signatures(_resign(GENUINE[0], signer))
    assert not result.valid and result.valid_then is False
    assert "not yet valid" in result.how
    assert "NOT valid when signed" in result.describe()


def test_signed_with_another_key_fails() -> None:
    root = etree.fromstring(_resign(GENUINE[0], _identity(
        "X:33683111000107", datetime(2024, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))))
    cert_el = root.find(f".//{{{DS}}}X509Certificate")
    attacker = x509.load_pem_x509_certificate((KEYS / "attacker.cert.pem").read_bytes())
    cert_el.text = base64.b64encode(attacker.public_bytes(serialization.Encoding.DER)).decode()
    (result,) = verify_signatures(etree.tostring(root, encoding="utf-8"))
    assert not result.valid


def test_signer_cnpj_sources() -> None:
    serpro = x509.load_pem_x509_certificate((KEYS / "serpro.cert.pem").read_bytes())
    attacker = x509.load_pem_x509_certificate((KEYS / "attacker.cert.pem").read_bytes())
    assert signer_cnpj(serpro) == "33683111000107"
    assert signer_cnpj(attacker) == "85222890000139"


def test_unsigned_and_unreadable() -> None:
    assert verify_signatures(b"<CompNfse/>") == ()
    assert verify_signatures(b"not xml") == ()
