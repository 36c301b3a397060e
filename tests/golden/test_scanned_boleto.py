"""A boleto without a text layer (a scan) is read from its image, and never passes unseen."""

from __future__ import annotations

import io
from email import message_from_bytes

import pypdfium2 as pdfium
import pytest
from PIL import Image

from conftest import FIXTURES, cases, json_lines, run_cli


def _scan_of(pdf: bytes | None) -> bytes:
    """An image-only PDF of the first page (as a scanner makes), or of a blank page."""
    if pdf is None:
        image = Image.new("L", (1240, 1754), 255)
    else:
        image = pdfium.PdfDocument(pdf)[0].render(scale=200 / 72, grayscale=True).to_pil()
    out = io.BytesIO()
    image.save(out, format="PDF", resolution=200)
    return out.getvalue()


def _bill_with_boleto(tmp_path, blank: bool):
    case = cases("genuine")[0]
    msg = message_from_bytes((FIXTURES / case["file"]).read_bytes())
    for part in msg.walk():
        if (part.get_filename() or "").startswith("boleto"):
            part.set_payload(_scan_of(None if blank else part.get_payload(decode=True)))
            del part["Content-Transfer-Encoding"]
            from email import encoders
            encoders.encode_base64(part)
    path = tmp_path / "scan.eml"
    path.write_bytes(msg.as_bytes())
    return case, path


@pytest.mark.slow
@pytest.mark.parametrize("blank", [False, True])
def test_scanned_boleto_needs_a_person(tmp_path, demo_config, blank):
    case, path = _bill_with_boleto(tmp_path, blank)
    line = json_lines(run_cli("ingest", "--json", "--config", str(demo_config),
                              str(path)).stdout)[0]
    assert line["status"] == "invoice", line["reason"]
    inv = line["invoice"]
    checks = {c["name"]: c["outcome"] for c in inv["checks"]}
    assert inv["verdict"] == "review"
    if blank:
        assert inv["boleto"] is None and checks["boleto.check_digits"] == "unknown"
    else:  # the barcode read from the scan; no printed line to compare it with
        assert inv["boleto"]["barcode"] == case["facts"]["boleto"]["barcode"]
        # the line a person types, derived from the barcode (no text layer to print one)
        assert inv["boleto"]["digitable_line"] == case["facts"]["boleto"]["digitable_line"]
        assert checks["boleto.barcode_matches_line"] == "unknown"
