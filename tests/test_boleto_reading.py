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
