"""The fast boleto reader against many generated bills: every barcode and QR is read."""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.bills import make_bill
from fixtures.documents_pdf import boleto_pdf
from parsers import parse_boleto_pdf


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["vector", "image"])
def test_forty_random_bills_read_at_150_dpi(variant):
    misses = []
    for i in range(20):
        bill = make_bill(1000 + i, f"random-{variant}-{i}", 2026, 1 + i % 12, "abrasf-2.04",
                         str(500000 + i), variant)
        doc = parse_boleto_pdf(boleto_pdf(bill), date(2026, 6, 1))
        if doc.barcode_read != bill.boleto.barcode or doc.pix is None or \
                doc.pix.payload != bill.pix.payload:
            misses.append(i)
    assert misses == []


def test_a_vector_qr_is_found_where_its_squares_are_drawn():
    import pypdfium2 as pdfium

    from parsers.pdf import page_objects

    vector = make_bill(7, "squares-vector", 2026, 3, "abrasf-2.04", "700001", "vector")
    image = make_bill(7, "squares-image", 2026, 3, "abrasf-2.04", "700002", "image")
    page = pdfium.PdfDocument(boleto_pdf(vector))[0]
    found = page_objects(page)
    assert found.images == () and found.squares is not None
    left, bottom, right, top = found.squares
    width, height = page.get_size()
    # One square patch (a QR), a few centimetres wide, inside the page.
    assert 0 <= left < right <= width and 0 <= bottom < top <= height
    assert abs((right - left) - (top - bottom)) < 5 and 40 < right - left < 200
    found = page_objects(pdfium.PdfDocument(boleto_pdf(image))[0])
    assert len(found.images) == 1 and found.squares is None


def test_a_patch_of_squares_that_is_not_a_qr_falls_back_to_the_whole_page(monkeypatch):
    import parsers.boleto_pdf as reader

    bill = make_bill(8, "squares-decoy", 2026, 4, "abrasf-2.04", "700003", "vector")
    real = reader.page_objects

    def decoy(page):  # the squares said to be in the top-left corner, far from the QR
        return real(page).__class__((), (10.0, 760.0, 60.0, 810.0))

    monkeypatch.setattr(reader, "page_objects", decoy)
    doc = parse_boleto_pdf(boleto_pdf(bill), date(2026, 6, 1))
    assert doc.pix is not None and doc.pix.payload == bill.pix.payload
    assert doc.qr_source == "render"


def test_vector_bars_are_found_and_their_box_alone_reads_the_barcode():
    import pypdfium2 as pdfium

    from parsers.barcodes import read_itf
    from parsers.boleto_pdf import QUIET_ZONE_PT, _raster, _Render
    from parsers.pdf import page_objects

    bill = make_bill(9, "bars-vector", 2026, 5, "abrasf-2.04", "700004", "vector")
    page = pdfium.PdfDocument(boleto_pdf(bill))[0]
    bars = page_objects(page).bars
    assert bars is not None
    left, bottom, right, top = bars
    _width, height = page.get_size()
    # The ficha's barcode: 10 to 15 cm wide, 13 mm tall, in the page's lower half.
    assert 280 < right - left < 425 and 30 < top - bottom < 45 and top < height / 2
    box = _raster(_Render(page).part(left - QUIET_ZONE_PT, bottom - 2, right + QUIET_ZONE_PT,
                                     top + 2))
    assert read_itf(box, row_step=4) == [bill.boleto.barcode]
    # A page of text and rules (the NFS-e) has no bars.
    from fixtures.documents_pdf import nfse_pdf
    assert page_objects(pdfium.PdfDocument(nfse_pdf(bill))[0]).bars is None


def test_bars_said_to_be_elsewhere_fall_back_to_the_lower_half(monkeypatch):
    import parsers.boleto_pdf as reader

    bill = make_bill(10, "bars-decoy", 2026, 6, "abrasf-2.04", "700005", "vector")
    real = reader.page_objects

    def decoy(page):  # bars said to be at the top of the page, where there is only text
        found = real(page)
        return found.__class__(found.images, found.squares, (40.0, 700.0, 400.0, 740.0))

    monkeypatch.setattr(reader, "page_objects", decoy)
    doc = parse_boleto_pdf(boleto_pdf(bill), date(2026, 6, 1))
    assert doc.barcode_read == bill.boleto.barcode


def test_the_plain_pointer_object_loop_sees_what_pypdfium2s_own_calls_see(monkeypatch):
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    import parsers.pdf as pdf

    pages = [pdfium.PdfDocument(boleto_pdf(make_bill(11, f"loop-{qr}", 2026, 7, "abrasf-2.04",
                                                     f"70001{n}", qr)))[0]
             for n, qr in enumerate(("vector", "image"))]
    fast = [pdf.page_objects(p) for p in pages]
    monkeypatch.setattr(pdf, "_object_calls", lambda: (
        pdfium_c.FPDFPage_GetObject, pdfium_c.FPDFPageObj_GetType,
        pdfium_c.FPDFPageObj_GetBounds, lambda raw: raw))
    typed = [pdf.page_objects(p) for p in pages]
    for a, b in zip(fast, typed, strict=True):
        assert (a.squares, a.bars) == (b.squares, b.bars)
        assert [i.tobytes() for i in a.images] == [i.tobytes() for i in b.images]
    assert fast[0].squares is not None and len(fast[1].images) == 1
