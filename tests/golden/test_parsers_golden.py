"""Golden tests: each sample document through its parser, against the generator's own facts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from parsers import (
    HostileInputError,
    ParseError,
    parse_boleto_pdf,
    parse_email,
    parse_nfse,
    parse_nfse_pdf,
)
from parsers.boleto_pdf import find_line
from parsers.errors import NotABoletoError

from conftest import FIXTURES, cases

GENUINE = {c["case"]: c for c in cases("genuine")}


def _doc(case: str, kind: str) -> bytes:
    return (FIXTURES / "documents" / f"{case}.{kind}").read_bytes()


@pytest.mark.parametrize("case", sorted(GENUINE))
def test_nfse_xml(case):
    facts = GENUINE[case]["facts"]["nfse"]
    n = parse_nfse(_doc(case, "nfse.xml"))
    assert n.layout == facts["layout"]
    assert (n.number, n.verification_code, n.access_key) == (
        facts["number"], facts["verification_code"], facts["access_key"])
    assert n.competence == date.fromisoformat(facts["competence"])
    assert (n.provider_cnpj, n.taker_cnpj) == (facts["provider_cnpj"], facts["taker_cnpj"])
    for key in ("services_amount", "deductions_amount", "iss_amount", "retentions_amount",
                "net_amount"):
        assert getattr(n, key) == Decimal(facts[key]), key
    assert n.iss_withheld is facts["iss_withheld"]
    assert (n.service_item, n.municipality_code) == (facts["service_item"],
                                                      facts["municipality_code"])
    assert n.description == facts["description"]
    assert n.signature_count >= 1


@pytest.mark.parametrize("case", sorted(GENUINE))
def test_nfse_pdf(case):
    facts = GENUINE[case]["facts"]["nfse"]
    p = parse_nfse_pdf(_doc(case, "nfse.pdf"))
    assert p.number == facts["number"]
    assert p.verification_code == facts["verification_code"]
    assert p.access_key == facts["access_key"]
    assert p.competence == date.fromisoformat(facts["competence"])
    assert (p.provider_cnpj, p.taker_cnpj) == (facts["provider_cnpj"], facts["taker_cnpj"])
    assert p.services_amount == Decimal(facts["services_amount"])
    assert p.net_amount == Decimal(facts["net_amount"])


@pytest.mark.parametrize("case", sorted(GENUINE))
def test_boleto_pdf(case):
    facts = GENUINE[case]["facts"]
    b = parse_boleto_pdf(_doc(case, "boleto.pdf"), date.fromisoformat(facts["due_date"]))
    assert b.printed_line == facts["boleto"]["digitable_line"]
    assert b.barcode_read == facts["boleto"]["barcode"]
    assert b.boleto.due_date == date.fromisoformat(facts["boleto"]["due_date"])
    assert b.boleto.amount == Decimal(facts["boleto"]["amount"])
    assert b.boleto.bank_code == facts["boleto"]["bank_code"]
    assert b.pix.payload == facts["pix"]["payload"] and b.pix.crc_valid
    assert b.qr_source == ("image" if facts["qr_variant"] == "image" else "render")


@pytest.mark.parametrize("case", sorted(GENUINE))
def test_email_headers_and_attachments(case):
    facts = GENUINE[case]["facts"]
    email = parse_email((FIXTURES / GENUINE[case]["file"]).read_bytes())
    carrier = email.forwarded[0] if email.forwarded else email
    assert sorted(a.filename for a in carrier.attachments if a.kind in ("pdf", "xml")) == sorted(
        facts["attachments"])
    assert email.from_address == facts["email"]["from"]
    assert email.subject == facts["email"]["subject"]
    assert email.message_id == facts["email"]["message_id"]
    assert not email.fatal_defects


def test_hostile_xml_is_refused_before_parsing():
    for case in ("hostile-xml-bomb", "hostile-xxe"):
        with pytest.raises(HostileInputError):
            parse_nfse(_doc(case, "nfse.xml"))


def test_utf16_doctype_is_still_seen():
    bomb = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
    with pytest.raises(HostileInputError):
        parse_nfse(bomb.encode("utf-16"))


def test_oversize_xml_is_refused():
    with pytest.raises(HostileInputError):
        parse_nfse(b"<CompNfse>" + b" " * (6 * 1024 * 1024) + b"</CompNfse>")


def test_not_an_nfse_and_not_xml():
    with pytest.raises(ParseError, match="no NFS-e found"):
        parse_nfse(b"<invoice/>")
    with pytest.raises(ParseError, match="well-formed"):
        parse_nfse(b"<CompNfse><Nfse>")


def test_escaped_xml_inside_a_soap_result_is_read():
    inner = _doc("genuine-01-abrasf-bare", "nfse.xml").decode("utf-8")
    inner = inner.split("?>", 1)[1] if inner.startswith("<?xml") else inner
    escaped = inner.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    soap = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            f"<ConsultarNfseServicoTomadoResponse><Result>{escaped}</Result>"
            "</ConsultarNfseServicoTomadoResponse></s:Body></s:Envelope>")
    n = parse_nfse(soap.encode("utf-8"))
    assert n.number == GENUINE["genuine-01-abrasf-bare"]["facts"]["nfse"]["number"]


def test_corrupt_and_fake_pdfs_are_parse_errors():
    good = _doc("genuine-01-abrasf-bare", "boleto.pdf")
    with pytest.raises(ParseError):
        parse_boleto_pdf(good[: len(good) // 3] + b"garbage")
    with pytest.raises(ParseError, match="not a PDF"):
        parse_boleto_pdf(b"\x00" * 4096)


def test_arrecadacao_line_is_reported_as_such():
    with pytest.raises(NotABoletoError):
        find_line("Pague: 84670000001-7 43590024020-9 02405000243-5 84221010811-9")


def test_printed_line_found_in_page_text():
    text = ("Local de pagamento\n00190.00009 07777.777009 00087.654182 6 49000000295295\n"
            "Beneficiario")
    assert find_line(text) == "00190000090777777700900087654182649000000295295"


def test_nfse_pdf_with_labels_apart_from_values_falls_back_to_layout_text():
    import io

    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, invariant=1)
    c.drawString(50, 800, "NFS-e - Nota Fiscal de Serviços Eletrônica")
    # Labels drawn first, values after: the plain text layer lists them apart.
    for y, label in ((760, "Número da NFS-e"), (740, "Valor dos Serviços"), (720, "Valor Líquido")):
        c.drawString(50, y, label)
    for y, value in ((760, "12345"), (740, "R$ 1.234,56"), (720, "R$ 1.200,00")):
        c.drawString(250, y, value)
    c.save()
    p = parse_nfse_pdf(buf.getvalue())
    assert (p.number, p.services_amount, p.net_amount) == (
        "12345", Decimal("1234.56"), Decimal("1200.00"))


def test_headers_are_decoded_as_a_person_reads_them():
    raw = (b"From: =?utf-8?q?SERPRO_<nfe@serpro.gov.br>?= <cobranca@golpe.example>\r\n"
           b"Subject: Fatura de servi\xc3\xa7os =?x-unknown?q?caf=E9?= "
           b"=?iso-8859-1?q?refer=EAncia?=\r\n"
           b"Message-ID: <a@b>\r\nDate: Mon, 2 Nov 2026 10:00:00 -0300\r\n\r\nCorpo\r\n")
    e = parse_email(raw)
    # An address inside an encoded display name is a name, never the sender.
    assert e.from_address == "cobranca@golpe.example"
    assert e.from_name == "SERPRO <nfe@serpro.gov.br>"
    assert e.subject is not None and e.subject.startswith("Fatura de serviços")
    assert e.subject.endswith("referência")
    assert (e.message_id, e.date.isoformat()) == ("<a@b>", "2026-11-02T10:00:00-03:00")
