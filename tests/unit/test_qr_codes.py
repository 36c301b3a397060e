"""QR codes on a bill: only a BR Code is a Pix, read leniently where EMV allows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fixtures.bills import make_bill
from fixtures.documents_pdf import boleto_pdf
from parsers import parse_boleto_pdf, pix
from parsers.boleto_pdf import read_pix
from parsers.errors import ParseError
from parsers.pix import field, with_crc

PORTAL = "https://cliente.serpro.gov.br/faturas/261074"


def _brcode(amount: str) -> str:
    return with_crc(field("00", "01") + field("01", "12")
                    + field("26", field("00", "br.gov.bcb.pix") + field("25", "qr.example/p/1"))
                    + field("52", "0000") + field("53", "986") + field("54", amount)
                    + field("58", "BR") + field("59", "SERVICO FEDERAL DE PROCES")
                    + field("60", "BRASILIA") + field("62", field("05", "***")))


@pytest.mark.parametrize(("written", "value"), [("10.", "10.00"), ("10", "10.00"),
                                                 ("10.5", "10.50"), (".50", "0.50"),
                                                 ("1234.56", "1234.56")])
def test_amounts_as_emv_allows_them(written, value):
    code = pix.parse(_brcode(written))
    assert code.crc_valid and code.amount == Decimal(value)


@pytest.mark.parametrize("written", ["123.454", "1,50", "R$10", "1e3"])
def test_amounts_that_are_not_amounts_are_a_parse_error_not_a_rounding(written):
    with pytest.raises(ParseError):
        pix.parse(_brcode(written))


def test_only_br_codes_are_pix():
    assert pix.is_br_code(_brcode("10.00"))
    for other in (PORTAL, "BEGIN:VCARD", "", "0002", "http://000201.example"):
        assert not pix.is_br_code(other)


def test_a_url_qr_beside_the_pix_is_not_a_pix_and_not_an_error():
    found, error = read_pix([PORTAL, _brcode("10.")])
    assert error is None and found is not None and found.amount == Decimal("10.00")
    assert read_pix([PORTAL]) == (None, None)


def test_a_br_code_that_does_not_read_is_its_own_outcome():
    found, error = read_pix(["000201" + "5999abc"])
    assert found is None and error is not None and "CRC" not in error


def test_a_boleto_with_a_portal_qr_beside_the_pix_reads_both():
    bill = make_bill(31, "portal-qr", 2026, 3, "abrasf-2.04", "310001", "vector")
    doc = parse_boleto_pdf(boleto_pdf(bill, extra_qr=PORTAL), date(2026, 4, 1))
    assert doc.pix is not None and doc.pix.payload == bill.pix.payload and doc.pix.crc_valid
    assert doc.pix_error is None and doc.other_qr == (PORTAL,)
    assert doc.barcode_read == bill.boleto.barcode


def test_a_pix_only_bill_is_still_a_payment_document():
    bill = make_bill(32, "pix-only", 2026, 3, "abrasf-2.04", "320001", "image")
    doc = parse_boleto_pdf(boleto_pdf(bill, barcode=None, line=False), date(2026, 4, 1))
    assert doc.boleto is None and doc.printed_line is None
    assert doc.pix is not None and doc.pix.amount == bill.nfse.net
