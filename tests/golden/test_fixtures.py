"""The fixture generator: byte-stable output, boletos that decode, facts that add up.

The domain math here (check digits, due-date factor, CNPJ, Pix CRC, access key) is written
again from DOMAIN.md on purpose, so it does not share code with the generator or the parsers.
"""

from __future__ import annotations

import base64
import copy
import email
import email.policy
import hashlib
import shutil
import subprocess
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from pyzbar.pyzbar import ZBarSymbol, decode

from conftest import FIXTURES, manifest

SERPRO = "33683111000107"
TAKER = "12345678000195"
DS = "{http://www.w3.org/2000/09/xmldsig#}"
LINE_TAMPERED = {"tampered-check-digit", "tampered-line-rewritten"}
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


# ---- independent domain math ---------------------------------------------------------------


def mod10(s: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(s)):
        p = int(ch) * (2 - i % 2)
        total += p // 10 + p % 10
    return (10 - total % 10) % 10


def mod11_general(s43: str) -> int:
    total = sum(int(ch) * (2 + i % 8) for i, ch in enumerate(reversed(s43)))
    dv = 11 - total % 11
    return 1 if dv in (0, 10, 11) else dv


def line_of(barcode: str) -> str:
    f1, f2, f3 = barcode[0:4] + barcode[19:24], barcode[24:34], barcode[34:44]
    return (f1 + str(mod10(f1)) + f2 + str(mod10(f2)) + f3 + str(mod10(f3)) + barcode[4]
            + barcode[5:19])


def barcode_of(line: str) -> str:
    return line[0:4] + line[32] + line[33:47] + line[4:9] + line[10:20] + line[21:31]


def line_dvs_ok(line: str) -> bool:
    fields_ok = all(str(mod10(line[a:b])) == line[b] for a, b in ((0, 9), (10, 20), (21, 31)))
    bc = barcode_of(line)
    return fields_ok and str(mod11_general(bc[:4] + bc[5:])) == bc[4]


def factor(due: date) -> int:
    days = (due - date(1997, 10, 7)).days
    return days - 9000 if days > 9999 else days


def cnpj_ok(c: str) -> bool:
    def dv(body: str, weights: list[int]) -> int:
        r = sum((ord(ch) - 48) * w for ch, w in zip(body, weights, strict=True)) % 11
        return 0 if r < 2 else 11 - r
    w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    d1 = dv(c[:12], w1)
    return len(c) == 14 and c[12:] == f"{d1}{dv(c[:12] + str(d1), [6, *w1])}"


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def tlv(s: str) -> dict[str, str]:
    out, i = {}, 0
    while i < len(s):
        n = int(s[i + 2:i + 4])
        out[s[i:i + 2]] = s[i + 4:i + 4 + n]
        i += 4 + n
    return out


def cents(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("0.01"))


# ---- helpers ---------------------------------------------------------------------------------


def entries(kind: str | None = None) -> list[dict]:
    return [c for c in manifest() if kind is None or c["kind"] == kind]


def with_boleto() -> list[dict]:
    return [c for c in manifest() if any(d.endswith(".boleto.pdf") for d in c["documents"])]


def doc(entry: dict, suffix: str) -> bytes:
    return (FIXTURES / next(d for d in entry["documents"] if d.endswith(suffix))).read_bytes()


def all_generated_files(root: Path) -> set[str]:
    names = {"manifest.json"} | {c["file"] for c in manifest()}
    for sub in ("documents", "keys", "mailbox", "signers"):
        names |= {f"{sub}/{p.name}" for p in (root / sub).iterdir() if p.is_file()}
    return names


def attachments(raw: bytes) -> dict[str, bytes]:
    """File name -> bytes, looking inside attached messages too."""
    found: dict[str, bytes] = {}

    def walk(msg) -> None:
        for part in msg.walk():
            if part.get_content_type() == "message/rfc822":
                walk(part.get_payload(0))
            elif not part.is_multipart() and part.get_filename():
                found[part.get_filename()] = part.get_payload(decode=True)
    walk(email.message_from_bytes(raw, policy=email.policy.default))
    return found


def verify_xmldsig(signature: etree._Element) -> bool:
    """Digest and RSA signature of one enveloped XMLDSig, canonicalising deep copies."""
    si = signature.find(f"{DS}SignedInfo")
    exclusive = "exc-c14n" in si.find(f"{DS}CanonicalizationMethod").get("Algorithm")
    sha1 = si.find(f"{DS}SignatureMethod").get("Algorithm").endswith("rsa-sha1")
    ref = si.find(f"{DS}Reference")
    target = signature.getroottree().xpath(f"//*[@Id='{ref.get('URI')[1:]}']")[0]
    c14n = etree.tostring(copy.deepcopy(target), method="c14n", exclusive=exclusive)
    digest = (hashlib.sha1 if sha1 else hashlib.sha256)(c14n).digest()
    if base64.b64encode(digest).decode() != ref.findtext(f"{DS}DigestValue"):
        return False
    cert = x509.load_der_x509_certificate(
        base64.b64decode(signature.findtext(f".//{DS}X509Certificate")))
    try:
        cert.public_key().verify(
            base64.b64decode(signature.findtext(f"{DS}SignatureValue")),
            etree.tostring(copy.deepcopy(si), method="c14n", exclusive=exclusive),
            padding.PKCS1v15(), hashes.SHA1() if sha1 else hashes.SHA256())
    except Exception:
        return False
    return True


def signatures(xml: bytes, strip_blanks: bool = False) -> list[etree._Element]:
    parser = etree.XMLParser(remove_blank_text=strip_blanks, resolve_entities=False)
    return list(etree.fromstring(xml, parser).iter(f"{DS}Signature"))


def signer_cnpj(signature: etree._Element) -> str:
    cert = x509.load_der_x509_certificate(
        base64.b64decode(signature.findtext(f".//{DS}X509Certificate")))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    other = [o for o in san.get_values_for_type(x509.OtherName)
             if o.type_id.dotted_string == "2.16.76.1.3.3"]
    return other[0].value[2:].decode()


# ---- (a) determinism ---------------------------------------------------------------------------


@pytest.mark.slow
def test_regenerating_gives_byte_identical_files(tmp_path):
    from fixtures.generate import write_all

    write_all(tmp_path)
    committed, fresh = all_generated_files(FIXTURES), all_generated_files(tmp_path)
    assert committed == fresh
    for rel in sorted(committed):
        assert (tmp_path / rel).read_bytes() == (FIXTURES / rel).read_bytes(), rel


# ---- (b) barcodes and QR codes decode at 150 dpi ------------------------------------------


@pytest.mark.parametrize("entry", with_boleto(), ids=lambda e: e["case"])
def test_boleto_pdf_decodes_at_150_dpi(entry):
    pdf = pdfium.PdfDocument(doc(entry, ".boleto.pdf"))
    page = pdf[0]
    image = page.render(scale=150 / 72, grayscale=True).to_pil()
    itf = [s.data.decode() for s in decode(image, symbols=[ZBarSymbol.I25])]
    qr = [s.data.decode("utf-8") for s in decode(image, symbols=[ZBarSymbol.QRCODE])]
    text = page.get_textpage().get_text_range()
    pdf.close()
    facts = entry["facts"]
    assert itf == [facts["boleto"]["barcode"]]
    assert qr == [facts["pix"]["payload"]]
    line = facts["boleto"]["digitable_line"]
    printed = (f"{line[0:5]}.{line[5:10]} {line[10:15]}.{line[15:21]} {line[21:26]}."
               f"{line[26:32]} {line[32]} {line[33:]}")
    assert printed in text
    if entry["case"] == "tampered-line-rewritten":
        assert barcode_of(line) != itf[0]  # by design: the printed line was rewritten


# ---- (c) facts are consistent by domain math ----------------------------------------------


@pytest.mark.parametrize("entry", with_boleto(), ids=lambda e: e["case"])
def test_boleto_facts_add_up(entry):
    f = entry["facts"]
    b = f["boleto"]
    bc, line = b["barcode"], b["digitable_line"]
    assert len(bc) == 44 and bc.isdigit() and len(line) == 47 and line.isdigit()
    assert str(mod11_general(bc[:4] + bc[5:])) == bc[4]
    assert bc[0:3] == b["bank_code"] and bc[3] == "9"
    assert int(bc[5:9]) == factor(date.fromisoformat(b["due_date"]))
    assert Decimal(int(bc[9:19])) / 100 == cents(b["amount"])
    y, m = map(int, f["nfse"]["competence"].split("-")[:2])  # the month billed
    assert b["due_date"] == f["due_date"] == date(y + m // 12, m % 12 + 1, 20).isoformat()
    if entry["case"] not in LINE_TAMPERED:
        assert line == line_of(bc)


@pytest.mark.parametrize("entry", with_boleto(), ids=lambda e: e["case"])
def test_nfse_facts_add_up(entry):
    f, n = entry["facts"], entry["facts"]["nfse"]
    if entry["kind"] != "review":  # the review case's e-mail names another month on purpose
        assert n["competence"] == f["reference_month"] + "-01"
    assert cnpj_ok(n["provider_cnpj"]) and n["taker_cnpj"] == TAKER and cnpj_ok(TAKER)
    services, net = cents(n["services_amount"]), cents(n["net_amount"])
    assert net == services - cents(n["retentions_amount"]) - cents(n["deductions_amount"])
    if entry["case"] != "tampered-signature":  # ISS was computed before the edit
        iss = (services * Decimal("0.02")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert cents(n["iss_amount"]) == iss
    assert n["municipality_code"] == "5300108" and n["iss_withheld"] is False
    if n["layout"] == "abrasf-2.04":
        code = n["verification_code"]
        assert n["access_key"] is None and 8 <= len(code) <= 9
        assert code.isalnum() and code == code.upper() and n["service_item"] == "1.03"
    else:
        key = n["access_key"]
        assert n["verification_code"] is None and n["service_item"] == "010301"
        assert len(key) == 50 and key.isdigit() and key[:7] == "5300108"
        assert key[9:23] == n["provider_cnpj"] and int(key[23:36]) == int(n["number"])
        total = sum(int(ch) * (2 + i % 8) for i, ch in enumerate(reversed(key[:49])))
        assert key[49] == str(0 if 11 - total % 11 >= 10 else 11 - total % 11)


@pytest.mark.parametrize("entry", with_boleto(), ids=lambda e: e["case"])
def test_pix_facts_add_up(entry):
    p = entry["facts"]["pix"]
    payload = p["payload"]
    fields = tlv(payload)
    crc_ok = f"{crc16(payload[:-4].encode()):04X}" == payload[-4:]
    assert crc_ok is (entry["case"] != "tampered-pix-crc")
    assert fields["00"] == "01" and fields["01"] == "12" and fields["53"] == "986"
    account = tlv(fields["26"])
    assert account["00"] == "br.gov.bcb.pix" and account["25"] == p["url"]
    assert tlv(fields["62"])["05"] == p["txid"]
    assert cents(fields["54"]) == cents(p["amount"])
    assert fields["59"] == p["merchant_name"] and fields["60"] == p["merchant_city"]
    assert len(fields["59"]) <= 25


@pytest.mark.parametrize("entry", entries("genuine"), ids=lambda e: e["case"])
def test_genuine_amounts_and_parties_agree(entry):
    f = entry["facts"]
    n, b, p = f["nfse"], f["boleto"], f["pix"]
    assert cents(b["amount"]) == cents(n["net_amount"]) == cents(p["amount"])
    assert n["provider_cnpj"] == SERPRO and b["bank_code"] == "001"
    assert p["merchant_name"] == "SERVICO FEDERAL DE PROCES" and p["merchant_city"] == "BRASILIA"
    assert f["contract_number"] == "261074"


def test_each_tampered_case_breaks_exactly_what_it_says():
    by = {c["case"]: c["facts"] for c in entries("tampered")}
    for name in ("tampered-sender-lookalike", "tampered-sender-suffix"):
        domain = by[name]["email"]["from"].split("@")[1]
        assert domain != "serpro.gov.br" and not domain.endswith(".serpro.gov.br")
    line, bc = by["tampered-check-digit"]["boleto"]["digitable_line"], \
        by["tampered-check-digit"]["boleto"]["barcode"]
    diff = [i for i, (a, b) in enumerate(zip(line, line_of(bc), strict=True)) if a != b]
    assert len(diff) == 1 and 21 <= diff[0] < 31 and not line_dvs_ok(line)
    rewritten = by["tampered-line-rewritten"]["boleto"]
    other = barcode_of(rewritten["digitable_line"])
    assert line_dvs_ok(rewritten["digitable_line"]) and other != rewritten["barcode"]
    assert other[:3] == rewritten["barcode"][:3] and other[5:19] == rewritten["barcode"][5:19]
    bank = by["tampered-bank"]["boleto"]
    assert bank["bank_code"] == "341" and line_dvs_ok(bank["digitable_line"])
    amount = by["tampered-amount"]
    assert cents(amount["boleto"]["amount"]) > cents(amount["nfse"]["net_amount"])
    assert cents(amount["pix"]["amount"]) == cents(amount["boleto"]["amount"])
    assert by["tampered-pix-crc"]["pix"]["merchant_city"] != "BRASILIA"
    pix_amount = by["tampered-pix-amount"]
    assert cents(pix_amount["pix"]["amount"]) != cents(pix_amount["boleto"]["amount"])
    assert by["tampered-pix-merchant"]["pix"]["merchant_name"] == "FULANO SERVICOS LTDA"
    provider = by["tampered-provider"]["nfse"]
    assert provider["provider_cnpj"] != SERPRO and cnpj_ok(provider["provider_cnpj"])
    for name, facts in by.items():
        if name not in ("tampered-bank", "tampered-amount", "tampered-provider"):
            assert facts["boleto"]["bank_code"] == "001", name


def test_cases_are_distinct_and_cover_the_brief():
    bills = [c for c in manifest() if c["kind"] in ("genuine", "tampered", "hostile")]
    numbers = [c["facts"]["nfse"]["number"] for c in bills]
    months = [c["facts"]["reference_month"] for c in bills]
    assert len(set(numbers)) == len(numbers) and len(set(months)) == len(months)
    genuine = entries("genuine")
    assert len(genuine) >= 8
    assert {c["facts"]["nfse"]["layout"] for c in genuine} == {
        "abrasf-2.04", "nacional-1.00", "nacional-1.01"}
    assert {c["facts"]["nfse"]["xml_variant"] for c in genuine} >= {
        "bare", "namespaced", "soap", "reindented"}
    assert {c["facts"]["qr_variant"] for c in genuine} == {"vector", "image"}
    assert any(cents(c["facts"]["nfse"]["retentions_amount"]) > 0 for c in genuine)
    checks = {c["expect"]["failed_check"] for c in entries("tampered")}
    assert len(checks) == 10 and all(c["expect"]["verdict"] == "block"
                                     for c in entries("tampered"))
    assert {c["case"] for c in entries("hostile")} == {
        "hostile-xml-bomb", "hostile-xxe", "hostile-corrupt-pdf", "hostile-broken-mime",
        "hostile-not-a-pdf"}
    assert all(c["expect"]["status"] == "quarantined" for c in entries("hostile"))
    (dup,) = entries("duplicate")
    first = genuine[0]
    assert dup["facts"]["nfse"] == first["facts"]["nfse"]
    assert dup["facts"]["email"]["message_id"] != first["facts"]["email"]["message_id"]
    assert dup["facts"]["email"]["date"] != first["facts"]["email"]["date"]


# ---- the emails and XML signatures ----------------------------------------------------------


@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["case"])
def test_email_uses_crlf_and_carries_the_documents(entry):
    raw = (FIXTURES / entry["file"]).read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    if entry["kind"] == "ignored" or entry["case"] == "hostile-broken-mime":
        return
    files = attachments(raw)
    assert set(files) - set(entry["facts"]["attachments"]) <= {"logo-serpro.png"}
    assert set(entry["facts"]["attachments"]) <= set(files)
    boleto, nfse_pdf, nfse_xml = entry["facts"]["attachments"]
    by_suffix = {".boleto.pdf": boleto, ".nfse.pdf": nfse_pdf, ".nfse.xml": nfse_xml}
    for rel in entry["documents"]:
        name = next(n for suffix, n in by_suffix.items() if rel.endswith(suffix))
        assert files[name] == (FIXTURES / rel).read_bytes(), (rel, name)


@pytest.mark.parametrize("entry", with_boleto(), ids=lambda e: e["case"])
def test_nfse_signatures(entry):
    xml = doc(entry, ".nfse.xml")
    sigs = signatures(xml)
    layout = entry["facts"]["nfse"]["layout"]
    assert len(sigs) == (1 if layout == "abrasf-2.04" else 2)
    as_stored = [verify_xmldsig(s) for s in sigs]
    if entry["case"] == "tampered-signature":
        assert as_stored == [False]
        assert [verify_xmldsig(s) for s in signatures(xml, strip_blanks=True)] == [False]
    elif entry["facts"]["nfse"]["xml_variant"] == "reindented":
        assert as_stored == [False]  # whitespace added after signing, as seen in the wild
        assert [verify_xmldsig(s) for s in signatures(xml, strip_blanks=True)] == [True]
    else:
        assert all(as_stored)
    assert signer_cnpj(sigs[0]) == entry["facts"]["nfse"]["provider_cnpj"]
    if layout != "abrasf-2.04":  # the national system: *.nfse.gov.br from a (test) web CA
        cert = x509.load_der_x509_certificate(
            base64.b64decode(sigs[1].findtext(f".//{DS}X509Certificate")))
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "*.nfse.gov.br" in names.get_values_for_type(x509.DNSName)
        assert cert.issuer.rfc4514_string().startswith("CN=confere TEST Web Server CA")


@pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 not installed")
@pytest.mark.parametrize("entry", entries("genuine"), ids=lambda e: e["case"])
def test_genuine_signatures_verify_with_xmlsec1(entry, tmp_path):
    xml = doc(entry, ".nfse.xml")
    variant = entry["facts"]["nfse"]["xml_variant"]
    tree = etree.fromstring(xml, etree.XMLParser(remove_blank_text=variant == "reindented"))
    if variant == "soap":  # signed standalone, then wrapped: verify the CompNfse alone
        tree = copy.deepcopy(tree.find(".//{http://www.abrasf.org.br/nfse.xsd}CompNfse"))
    path = tmp_path / "nfse.xml"
    path.write_bytes(etree.tostring(tree, encoding="utf-8", xml_declaration=True))
    abrasf, nacional = "http://www.abrasf.org.br/nfse.xsd", "http://www.sped.fazenda.gov.br/nfse"
    ids = ["--id-attr:Id", "InfDeclaracaoPrestacaoServico",
           "--id-attr:Id", f"{abrasf}:InfDeclaracaoPrestacaoServico",
           "--id-attr:Id", f"{nacional}:infDPS", "--id-attr:Id", f"{nacional}:infNFSe"]
    for i in range(len(list(tree.iter(f"{DS}Signature")))):
        proc = subprocess.run(
            ["xmlsec1", "--verify", "--trusted-pem", str(FIXTURES / "keys/ca.cert.pem"),
             "--untrusted-pem", str(FIXTURES / "keys/ecnpj-ca.cert.pem"),
             "--untrusted-pem", str(FIXTURES / "keys/web-ca.cert.pem"), *ids,
             "--node-xpath", f"(//*[local-name()='Signature'])[{i + 1}]", str(path)],
            capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


def test_certificates_chain_to_the_test_root():
    def load(name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate((FIXTURES / f"keys/{name}.cert.pem").read_bytes())

    root, ecnpj, web = load("ca"), load("ecnpj-ca"), load("web-ca")
    assert "confere TEST Root" in root.subject.rfc4514_string()
    root.verify_directly_issued_by(root)
    ecnpj.verify_directly_issued_by(root)
    web.verify_directly_issued_by(root)
    for name, cnpj in (("serpro", SERPRO), ("municipality", "00394601000126")):
        cert = load(name)
        cert.verify_directly_issued_by(ecnpj)
        assert f":{cnpj}," in cert.subject.rfc4514_string()
    load("attacker").verify_directly_issued_by(ecnpj)
    assert "FULANO SERVICOS LTDA:" in load("attacker").subject.rfc4514_string()
    load("sefin").verify_directly_issued_by(web)
    forger = load("forger")
    forger.verify_directly_issued_by(forger)  # self-signed, claiming SERPRO's CNPJ
    assert f":{SERPRO}," in forger.subject.rfc4514_string()
    bundle = (FIXTURES / "keys/test-cas.pem").read_bytes()
    assert bundle.count(b"BEGIN CERTIFICATE") == 3 and b"PRIVATE" not in bundle


def test_hostile_xml_is_what_it_claims():
    bomb = (FIXTURES / "documents/hostile-xml-bomb.nfse.xml").read_bytes()
    assert b"<!ENTITY lol9" in bomb and b"&lol9;" in bomb
    xxe = (FIXTURES / "documents/hostile-xxe.nfse.xml").read_bytes()
    assert b'SYSTEM "file:///etc/passwd"' in xxe and b"<Numero>&xxe;</Numero>" in xxe
    tree = etree.fromstring(xxe, SAFE)  # never resolved here
    assert b"root:" not in etree.tostring(tree)


# ---- (d) the huge junk email --------------------------------------------------------------


def test_huge_junk_email_is_over_30_megabytes(tmp_path):
    from fixtures.generate import huge_junk_email

    path = huge_junk_email(tmp_path / "huge.eml")
    assert path.stat().st_size > 30 * 1024 * 1024
    with path.open("rb") as fh:
        head = fh.read(4096)
    assert b"From: SERPRO Faturamento <faturamento@serpro.gov.br>" in head
    assert b'filename="boleto_261074_' in head
