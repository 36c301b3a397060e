"""email.authentication: a trusted server's Authentication-Results, else DKIM with dkimpy."""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from parsers import parse_email
from parsers.errors import DnsTrouble
from pipeline.checks.email_auth import (
    EmailAuthSettings,
    aligned,
    check_email,
    parse_auth_results,
    verify_dkim,
)
from pipeline.checks.vocabulary import verdict

from conftest import DEMO_CONFIG, FIXTURES, cases, json_lines, run_cli

GENUINE_EML = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"
SELECTOR = "s2026"


def _keypair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


SERPRO_KEY, SERPRO_TXT = _keypair()
ATTACKER_KEY, ATTACKER_TXT = _keypair()
ZONE = {f"{SELECTOR}._domainkey.serpro.gov.br": SERPRO_TXT,
        f"{SELECTOR}._domainkey.attacker.example": ATTACKER_TXT}


def stub_dns(name: bytes, timeout: float = 5) -> bytes | None:
    """dkimpy's dnsfunc over a fixed zone: no real DNS in tests."""
    txt = ZONE.get(name.decode().rstrip("."))
    return txt.encode() if txt else None


def signed(raw: bytes, key: bytes, domain: str) -> bytes:
    """The message with a DKIM-Signature prepended."""
    header = dkim.sign(raw, SELECTOR.encode(), domain.encode(), key,
                       include_headers=[b"from", b"subject", b"date", b"message-id"])
    return header + raw


def judge(raw: bytes, settings: EmailAuthSettings, dnsfunc=stub_dns):
    return check_email(parse_email(raw), raw, settings, dnsfunc=dnsfunc)


DKIM_ON = EmailAuthSettings(dkim="dns")


def test_genuine_signature_passes() -> None:
    check = judge(signed(GENUINE_EML.read_bytes(), SERPRO_KEY, "serpro.gov.br"), DKIM_ON)
    assert check.outcome == "pass" and "serpro.gov.br" in check.detail


def test_exact_domain_spoof_failing_dkim_is_block() -> None:
    forged = signed(GENUINE_EML.read_bytes(), ATTACKER_KEY, "serpro.gov.br")
    check = judge(forged, DKIM_ON)
    assert check.outcome == "fail" and "spoofed" in check.detail
    assert verdict([check]) == "block"


def test_valid_signature_of_another_domain_fails() -> None:
    check = judge(signed(GENUINE_EML.read_bytes(), ATTACKER_KEY, "attacker.example"), DKIM_ON)
    assert check.outcome == "fail" and "attacker.example: holds" in check.detail


def test_edited_after_signing_fails() -> None:
    raw = signed(GENUINE_EML.read_bytes(), SERPRO_KEY, "serpro.gov.br")
    edited = raw.replace(b"Contrato: 261074", b"Contrato: 261075", 1)
    assert edited != raw
    assert judge(edited, DKIM_ON).outcome == "fail"


def test_unsigned_is_unknown_or_fail_as_configured() -> None:
    raw = GENUINE_EML.read_bytes()
    assert judge(raw, DKIM_ON).outcome == "unknown"
    assert judge(raw, EmailAuthSettings(dkim="dns", unsigned_email="fail")).outcome == "fail"


def test_dns_trouble_is_unknown() -> None:
    def broken(name: bytes, timeout: float = 5) -> bytes | None:
        raise DnsTrouble("DNS look-up timed out")

    raw = signed(GENUINE_EML.read_bytes(), SERPRO_KEY, "serpro.gov.br")
    check = judge(raw, DKIM_ON, dnsfunc=broken)
    assert check.outcome == "unknown" and "timed out" in check.detail


def test_pinned_keys_need_no_dns() -> None:
    settings = EmailAuthSettings(dkim_keys={f"{SELECTOR}._domainkey.serpro.gov.br": SERPRO_TXT})
    raw = signed(GENUINE_EML.read_bytes(), SERPRO_KEY, "serpro.gov.br")
    assert judge(raw, settings, dnsfunc=None).outcome == "pass"
    other = signed(GENUINE_EML.read_bytes(), ATTACKER_KEY, "attacker.example")
    assert judge(other, settings, dnsfunc=None).outcome == "unknown"  # DNS off, key not pinned


def _with_headers(*headers: str) -> bytes:
    return "".join(h + "\r\n" for h in headers).encode() + GENUINE_EML.read_bytes()


TRUSTED = EmailAuthSettings(trusted_authserv_ids=("mx.example.com.br",))


@pytest.mark.parametrize(("header", "outcome"), [
    ("mx.example.com.br; dkim=pass header.d=serpro.gov.br; spf=pass "
     "smtp.mailfrom=faturamento@serpro.gov.br; dmarc=pass header.from=serpro.gov.br", "pass"),
    ("mx.example.com.br; dkim=pass (good signature) header.d=serpro.gov.br", "pass"),
    ("mx.example.com.br; spf=pass smtp.mailfrom=bounce@mail.serpro.gov.br", "pass"),
    ("mx.example.com.br; dkim=fail header.d=serpro.gov.br; spf=fail", "fail"),
    ("mx.example.com.br; dmarc=fail header.from=serpro.gov.br", "fail"),
    ("mx.example.com.br; dkim=pass header.d=attacker.example; spf=softfail", "fail"),
    ("mx.example.com.br; dkim=none; spf=none", "unknown"),
])
def test_trusted_authentication_results(header: str, outcome: str) -> None:
    check = judge(_with_headers(f"Authentication-Results: {header}"), TRUSTED)
    assert check.outcome == outcome, check.detail


def test_only_the_trusted_servers_header_counts() -> None:
    raw = _with_headers(
        "Authentication-Results: mx.example.com.br; dkim=fail header.d=serpro.gov.br; spf=fail",
        "Authentication-Results: evil.example; dkim=pass header.d=serpro.gov.br; dmarc=pass")
    assert judge(raw, TRUSTED).outcome == "fail"
    untrusted = _with_headers("Authentication-Results: evil.example; dmarc=pass")
    assert judge(untrusted, TRUSTED).outcome == "unknown"
    assert judge(untrusted, EmailAuthSettings()).outcome == "skipped"


def test_parse_auth_results() -> None:
    ar = parse_auth_results("MX.Example.com.br 1; dkim=pass (2048-bit key) header.d=serpro.gov.br "
                            "header.s=s1; spf=neutral smtp.mailfrom=a@b.c")
    assert ar.authserv_id == "mx.example.com.br"
    assert ar.of("dkim") == [("pass", {"header.d": "serpro.gov.br", "header.s": "s1"})]
    assert ar.of("spf")[0][0] == "neutral"


def test_alignment() -> None:
    assert aligned("serpro.gov.br", "mail.serpro.gov.br")
    assert not aligned("serpro-gov.br.example", "serpro.gov.br")
    assert not aligned(None, "serpro.gov.br")


@pytest.mark.parametrize("case", [c["case"] for c in cases("genuine")])
def test_samples_are_skipped_when_nothing_is_configured(case: str) -> None:
    raw = (FIXTURES / "mailbox" / f"{case}.eml").read_bytes()
    assert check_email(parse_email(raw), raw, None).outcome == "skipped"


def test_verify_dkim_directly_reports_each_signature() -> None:
    raw = signed(signed(GENUINE_EML.read_bytes(), ATTACKER_KEY, "attacker.example"),
                 SERPRO_KEY, "serpro.gov.br")
    assert verify_dkim(raw, "serpro.gov.br", stub_dns).outcome == "pass"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "confere.toml"
    pinned = f'[authenticity.dkim_keys]\n"{SELECTOR}._domainkey.serpro.gov.br" = "{SERPRO_TXT}"\n'
    path.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                       blobs=tmp_path / "blobs") + pinned, encoding="utf-8")
    return path


@pytest.mark.slow
def test_spoofed_sender_is_blocked_on_ingest(tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(signed(GENUINE_EML.read_bytes(), SERPRO_KEY, "serpro.gov.br"))
    spoof = tmp_path / "spoof.eml"
    spoof.write_bytes(signed(
        (FIXTURES / "mailbox" / "genuine-02-abrasf-namespaced.eml").read_bytes(),
        ATTACKER_KEY, "serpro.gov.br"))
    lines = json_lines(run_cli("ingest", "--config", str(_config(tmp_path)), str(good),
                               str(spoof), "--json").stdout)
    results = {}
    for line in lines:
        auth = next(c for c in line["invoice"]["checks"] if c["name"] == "email.authentication")
        results[line["invoice"]["nfse"]["number"]] = (auth["outcome"], line["invoice"]["verdict"])
    assert results["276033"] == ("pass", "ok")
    assert sorted(results.values()) == [("fail", "block"), ("pass", "ok")]


def test_dnsfunc_pinned_first_and_off_means_no_network() -> None:
    from pipeline.checks.email_auth import make_dnsfunc

    lookup = make_dnsfunc(EmailAuthSettings(dkim_keys={"S1._domainkey.Serpro.gov.br.": "v=1"}))
    assert lookup(b"s1._domainkey.serpro.gov.br.") == b"v=1"
    with pytest.raises(DnsTrouble, match="DNS look-ups are off"):
        lookup(b"s2._domainkey.serpro.gov.br.")


@pytest.mark.parametrize(("results", "verdict"), [
    ("dmarc=fail header.from=example.com.br; spf=fail", "block"),
    ("dmarc=pass header.from=example.com.br", "ok"),
])
@pytest.mark.slow
def test_a_forward_is_judged_by_its_own_authentication(tmp_path, results, verdict):
    """A forged "forward" from our own domain is how an outsider would pass the sender check."""
    from email.message import EmailMessage

    from conftest import DEMO_CONFIG, FIXTURES, cases, json_lines, run_cli

    original = (FIXTURES / cases("genuine")[0]["file"]).read_bytes()
    outer = EmailMessage()
    outer["Authentication-Results"] = f"mx.example.com.br; {results}"
    outer["From"] = "financeiro@example.com.br"
    outer["To"] = "contas@example.com.br"
    outer["Subject"] = "Fwd: SERPRO - Fatura"
    outer["Message-ID"] = f"<fwd-{verdict}@example.com.br>"
    outer.set_content("Segue a fatura do SERPRO.")
    outer.add_attachment(original, maintype="message", subtype="rfc822")
    path = tmp_path / "fwd.eml"
    path.write_bytes(outer.as_bytes())
    cfg = tmp_path / "confere.toml"
    cfg.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp_path / 'c.db'}", blobs=tmp_path / "b")
                   + 'trusted_authserv_ids = ["mx.example.com.br"]\n')
    line = json_lines(run_cli("ingest", "--json", "--config", str(cfg), str(path)).stdout)[0]
    assert line["status"] == "invoice", line["reason"]
    auth = next(c for c in line["invoice"]["checks"] if c["name"] == "email.authentication")
    assert "the forward from financeiro@example.com.br" in auth["detail"]
    assert line["invoice"]["verdict"] == verdict, auth
