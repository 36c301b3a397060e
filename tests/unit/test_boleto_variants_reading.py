"""Boleto pages as they really come, read at the parser: turned, scanned, small barcodes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from fixtures.bills import make_bill
from fixtures.documents_pdf import boleto_pdf
from fixtures.variants import Scan, scanned_boleto
from parsers import parse_boleto_pdf
from parsers.boleto import build_barcode, line_from_barcode
from parsers.boleto_pdf import _pick_barcodes

BILL = make_bill(41, "variants", 2026, 5, "abrasf-2.04", "410001", "vector")
REF = date(2026, 6, 1)


@pytest.mark.parametrize("make", [
    lambda: boleto_pdf(BILL, rotate=90),
    lambda: boleto_pdf(BILL, rotate=270),
    lambda: boleto_pdf(BILL, barcode="image-small"),
], ids=["rotate-90", "rotate-270", "small-raster-barcode"])
def test_pages_with_text_read_line_barcode_and_pix(make):
    doc = parse_boleto_pdf(make(), REF)
    assert doc.printed_line == BILL.boleto.printed_line
    assert doc.barcode_read == BILL.boleto.barcode
    assert doc.pix is not None and doc.pix.payload == BILL.pix.payload
    assert doc.boleto is not None and doc.boleto.due_date == BILL.boleto.due
    assert doc.boleto.amount == BILL.boleto.amount


@pytest.mark.parametrize("scan", [Scan(dpi=150), Scan(dpi=200, jpeg=60),
                                  Scan(dpi=300, skew=-0.8), Scan(dpi=200, turn=90),
                                  Scan(dpi=200, jpeg=75, skew=1.0, turn=270)], ids=repr)
def test_scans_read_from_the_image_with_the_line_derived(scan):
    doc = parse_boleto_pdf(scanned_boleto(BILL, scan), REF)
    assert doc.printed_line is None  # nothing printed in a text layer
    assert doc.barcode_read == BILL.boleto.barcode
    assert doc.boleto is not None and doc.boleto.digitable_line == BILL.boleto.printed_line
    assert doc.pix is not None and doc.pix.payload == BILL.pix.payload


def test_a_100_dpi_scan_keeps_its_pix_and_says_the_barcode_was_not_read():
    doc = parse_boleto_pdf(scanned_boleto(BILL, Scan(dpi=100)), REF)
    assert doc.boleto is None and doc.barcode_read is None
    assert doc.pix is not None and doc.pix.payload == BILL.pix.payload


def _code(due: date, amount: str, free: str) -> str:
    return build_barcode("001", due, Decimal(amount), free * 25)


def test_a_rewritten_copy_of_the_line_is_still_caught():
    genuine = _code(date(2026, 6, 20), "100.00", "1")
    rewritten = _code(date(2026, 6, 20), "100.00", "2")  # same amount and due, another payee
    barcode, _more = _pick_barcodes([line_from_barcode(rewritten), line_from_barcode(genuine)],
                                    [genuine])
    assert barcode == genuine  # held against the first line: a mismatch, as it should be


def test_a_carne_slip_whose_barcode_was_not_read_is_unread_not_false():
    first, second = _code(date(2026, 6, 20), "100.00", "1"), _code(date(2026, 7, 20), "100.00",
                                                                    "1")
    lines = [line_from_barcode(first), line_from_barcode(second)]
    assert _pick_barcodes(lines, [second]) == (None, [lines[1]])
    assert _pick_barcodes(lines, [second, first]) == (first, [lines[1]])
