"""Who may sign a note: chain at signing time, then provider / issuing authority / national.

Signatures are made here with the fixtures' test PKI (fixtures/keys) on the sample notes and
verified by the real parser; the trust comes from configs as a user writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from lxml import etree

from fixtures.keys import Identity
from fixtures.xmldsig import sign_enveloped
from parsers.errors import ConfigError
from parsers.nfse import parse_nfse
from parsers.xmldsig import DS, verify_signatures
from pipeline.checks.signers import judge
from pipeline.config.settings import from_dict
from pipeline.config.trust import TrustStore

from conftest import FIXTURES, TEST_CAS

KEYS = FIXTURES / "keys"
ABRASF = (FIXTURES / "documents" / "genuine-01-abrasf-bare.nfse.xml").read_bytes()
NATIONAL = (FIXTURES / "documents" / "genuine-06-nacional-100.nfse.xml").read_bytes()


def _trust(tmp_path: Path, **authenticity):
    return from_dict({"authenticity": authenticity}, tmp_path).signature_trust


def _load(name: str) -> tuple[x509.Certificate, object]:
    cert = x509.load_pem_x509_certificate((KEYS / f"{name}.cert.pem").read_bytes())
    key = serialization.load_pem_private_key((KEYS / f"{name}.key.pem").read_bytes(), None)
    return cert, key


def _identity(issuer: str, cn: str, start: datetime, end: datetime,
              key_of: str = "serpro", cnpj: str = "33683111000107") -> Identity:
    """A certificate for a fixture key, issued (signed) by the fixture CA `issuer`."""
    ca_cert, ca_key = _load(issuer)
    _cert, key = _load(key_of)
    other = x509.OtherName(x509.ObjectIdentifier("2.16.76.1.3.3"), b"\x04\x0e" + cnpj.encode())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{cn}:{cnpj}")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.KeyUsage(True, True, True, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.SubjectAlternativeName([other]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Identity("test", key, cert)


def _resign(xml: bytes, signer: Identity, issued: str | None = None) -> bytes:
    root = etree.fromstring(xml)
    for sig in [el for el in root.iter() if el.tag == f"{{{DS}}}Signature"]:
        sig.getparent().remove(sig)
    target = next(el for el in root.iter() if isinstance(el.tag, str)
                  and etree.QName(el).localname == "InfDeclaracaoPrestacaoServico")
    if issued:
        for el in root.iter():
            if isinstance(el.tag, str) and etree.QName(el).localname == "DataEmissao":
                el.text = issued
    sign_enveloped(target, signer)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _judge(xml: bytes, trust):
    note = parse_nfse(xml)
    return [judge(r, note, trust) for r in verify_signatures(xml)]


def test_the_sample_notes_pass_with_the_test_cas_configured(tmp_path):
    trust = _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()])
    (abrasf,) = _judge(ABRASF, trust)
    assert abrasf.outcome == "pass" and "as the provider" in abrasf.detail
    provider, national = _judge(NATIONAL, trust)
    assert provider.outcome == "pass"
    assert national.outcome == "pass" and "national NFS-e system" in national.detail


def test_without_the_test_cas_the_chain_cannot_be_completed(tmp_path):
    (verdict,) = _judge(ABRASF, _trust(tmp_path))
    assert verdict.outcome == "unknown"
    assert "confere TEST e-CNPJ CA" in verdict.detail and "signature_cas" in verdict.detail


def test_a_missing_intermediate_is_unknown_and_a_relative_path_works(tmp_path):
    (tmp_path / "root.pem").write_bytes((KEYS / "ca.cert.pem").read_bytes())
    (verdict,) = _judge(ABRASF, _trust(tmp_path, signature_cas=["root.pem"]))
    assert verdict.outcome == "unknown" and "is not a known CA" in verdict.detail


def test_a_certificate_claiming_a_known_issuer_but_signed_by_another_key_fails(tmp_path):
    # Names "confere TEST e-CNPJ CA" as issuer, but the attacker's key signed it.
    forged = _identity("attacker", "SERPRO", datetime(2024, 1, 1, tzinfo=UTC),
                       datetime(2028, 1, 1, tzinfo=UTC))
    ca_cert, _ = _load("ecnpj-ca")
    _c, attacker_key = _load("attacker")
    cert = (x509.CertificateBuilder().subject_name(forged.cert.subject)
            .issuer_name(ca_cert.subject).public_key(forged.key.public_key())
            .serial_number(7).not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2028, 1, 1, tzinfo=UTC))
            .sign(attacker_key, hashes.SHA256()))
    xml = _resign(ABRASF, Identity("forged", forged.key, cert))
    (verdict,) = _judge(xml, _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()]))
    assert verdict.outcome == "fail", verdict.detail


def test_expired_today_but_valid_when_signed_passes(tmp_path):
    old = _identity("ecnpj-ca", "SERPRO ANTIGO", datetime(2024, 1, 1, tzinfo=UTC),
                    datetime(2024, 12, 31, tzinfo=UTC))
    xml = _resign(ABRASF, old, issued="2024-06-15")
    (verdict,) = _judge(xml, _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()]))
    assert verdict.outcome == "pass", verdict.detail
    assert "2024-06-15" in verdict.detail


def test_a_chain_found_valid_once_is_not_trusted_outside_its_certificates_validity(tmp_path):
    # The validator remembers chains it found valid (a vendor signs a year of notes with one
    # certificate); a note by the same certificate dated after its end must still fail.
    cert = _identity("ecnpj-ca", "SERPRO 2024", datetime(2024, 1, 1, tzinfo=UTC),
                     datetime(2024, 12, 31, tzinfo=UTC))
    trust = _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()])
    inside = [_judge(_resign(ABRASF, cert, issued=f"2024-{m:02d}-15"), trust)[0] for m in (3, 9)]
    assert [v.outcome for v in inside] == ["pass", "pass"], inside
    (after,) = _judge(_resign(ABRASF, cert, issued="2025-02-10"), trust)
    assert after.outcome == "fail", after.detail
    assert "2025-02-10" in after.detail
    (again,) = _judge(_resign(ABRASF, cert, issued="2024-10-01"), trust)
    assert again.outcome == "pass", again.detail


def test_a_signer_listed_in_the_config_as_the_issuing_authority_passes(tmp_path):
    attacker = Identity("attacker", _load("attacker")[1], _load("attacker")[0])
    xml = _resign(ABRASF, attacker)
    cnpj = "85222890000139"
    plain = _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()])
    (before,) = _judge(xml, plain)
    assert before.outcome == "unknown" and "85.222.890/0001-39" in before.detail
    listed = _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()],
                    issuers={"5300108": [cnpj]})
    (after,) = _judge(xml, listed)
    assert after.outcome == "pass" and "issuing authority" in after.detail
    assert "Distrito Federal" in after.detail  # the shipped entry, extended


def test_the_national_name_is_trusted_only_from_the_web_roots():
    # The test root as an "ICP-Brasil root" and no web roots: a *.nfse.gov.br certificate from
    # the e-CNPJ intermediate must not pass as the national system.
    der = serialization.Encoding.DER
    root, ecnpj = _load("ca")[0], _load("ecnpj-ca")[0]
    trust = TrustStore((root.public_bytes(der),), (ecnpj.public_bytes(der),), (), ())
    ca_cert, ca_key = _load("ecnpj-ca")
    _c, key = _load("sefin")
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "*.nfse.gov.br")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(9)
            .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2028, 1, 1, tzinfo=UTC))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.nfse.gov.br")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    xml = _resign(ABRASF, Identity("sefin", key, cert))
    (verdict,) = _judge(xml, trust)
    assert verdict.outcome == "unknown", verdict.detail
    assert "confere TEST e-CNPJ CA" in verdict.detail


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"authenticity\.signature_cas: .*missing\.pem"):
        _trust(tmp_path, signature_cas=["missing.pem"])
    (tmp_path / "empty.pem").write_text("no certificate here")
    with pytest.raises(ConfigError, match="no PEM certificate"):
        _trust(tmp_path, signature_cas=["empty.pem"])
    with pytest.raises(ConfigError, match="IBGE municipality code"):
        _trust(tmp_path, issuers={"DF": ["00394601000126"]})
    with pytest.raises(ConfigError, match="not a valid CNPJ"):
        _trust(tmp_path, issuers={"5300108": ["00394601000127"]})


def _person(cpf: str) -> Identity:
    """An e-CPF-like certificate (otherName 2.16.76.1.3.1: birth date, then the CPF)."""
    ca_cert, ca_key = _load("ecnpj-ca")
    _c, key = _load("attacker")
    data = ("01011980" + cpf + "0" * 25).encode()
    other = x509.OtherName(x509.ObjectIdentifier("2.16.76.1.3.1"), b"\x04" + bytes([len(data)])
                           + data)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        f"FULANA DE TAL:{cpf}")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(11)
            .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2028, 1, 1, tzinfo=UTC))
            .add_extension(x509.SubjectAlternativeName([other]), critical=False)
            .add_extension(x509.KeyUsage(True, True, True, False, False, False, False, False,
                                         False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return Identity("person", key, cert)


def _as_person_provider(xml: bytes, cpf: str) -> bytes:
    root = etree.fromstring(xml)
    prestador = next(e for e in root.iter() if isinstance(e.tag, str)
                     and etree.QName(e).localname == "Prestador")
    cnpj = next(e for e in prestador.iter() if isinstance(e.tag, str)
                and etree.QName(e).localname == "Cnpj")
    cnpj.tag, cnpj.text = "Cpf", cpf
    return etree.tostring(root, encoding="utf-8")


def test_a_person_provider_signs_with_an_e_cpf_matched_by_the_whole_number(tmp_path):
    trust = _trust(tmp_path, signature_cas=[TEST_CAS.as_posix()])
    note = _as_person_provider(ABRASF, "12345678909")
    (own,) = _judge(_resign(note, _person("12345678909")), trust)
    assert own.outcome == "pass" and "as the provider" in own.detail
    # Same first eight digits, another person: not the provider.
    (other,) = _judge(_resign(note, _person("12345678000")), trust)
    assert other.outcome == "unknown" and "CPF 12345678000" in other.detail
