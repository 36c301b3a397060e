"""Boleto PDF: the printed line from the text layer, the ITF barcode and Pix QR from the page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pypdfium2 as pdfium
from PIL import Image

from parsers import boleto as boleto_math
from parsers import pix as pix_codes
from parsers.barcodes import Raster, read_itf, read_qr
from parsers.errors import NotABoletoError, ParseError
from parsers.pdf import open_pdf, page_objects, page_texts

BARCODE_DPI = 150
QR_FAST_DPI = 75
QUIET_ZONE_PT = 12  # around a vector QR's squares when only that patch is read
_LINE = re.compile(
    r"(?<!\d)(\d{5})[.\s]?(\d{5})\s*(\d{5})[.\s]?(\d{6})\s*(\d{5})[.\s]?(\d{6})\s*(\d)\s*(\d{14})(?!\d)")
_ARRECADACAO = re.compile(
    r"(?<!\d)(8\d{10})[-\s]?(\d)\s*(\d{11})[-\s]?(\d)\s*(\d{11})[-\s]?(\d)\s*(\d{11})[-\s]?(\d)(?!\d)")


@dataclass(frozen=True)
class BoletoDocument:
    """What a boleto PDF shows: the printed line, the barcode image, and the Pix QR."""

    printed_line: str | None
    boleto: boleto_math.Boleto | None
    barcode_read: str | None
    barcode_reads: tuple[str, ...]
    pix: pix_codes.PixCode | None
    pix_error: str | None
    qr_source: str | None  # "image" (embedded raster) or "render"
    page_text: str
    other_qr: tuple[str, ...] = ()  # QR texts that are not BR Codes (a portal URL): not a Pix


def find_line(text: str) -> str | None:
    """The first linha digitavel (47 digits) printed in a text; raise for an arrecadacao slip."""
    m = _LINE.search(text)
    if m:
        return "".join(m.groups())
    if _ARRECADACAO.search(text):
        raise NotABoletoError("the PDF carries an arrecadacao code (48 digits starting with 8), "
                              "not a boleto de cobranca")
    return None


def looks_like_boleto(text: str) -> bool:
    """Cheap test used to classify a PDF before reading it as a boleto."""
    return bool(_LINE.search(text) or _ARRECADACAO.search(text))


def parse_boleto_pdf(data: bytes, reference: date | None = None) -> BoletoDocument:
    """Read a boleto PDF; reference (the email's date) resolves the due-date factor."""
    with open_pdf(data) as doc:
        return read_boleto(doc, reference)


def read_boleto(doc: pdfium.PdfDocument, reference: date | None = None,
                texts: list[str] | None = None,
                pages: dict[int, pdfium.PdfPage] | None = None,
                hints: tuple[date, ...] = ()) -> BoletoDocument:
    """Read a boleto from an open PDF; texts and pages, when the caller has read them already,
    save reading and loading them twice; hints are due dates the email states."""
    pages = pages if pages is not None else {}
    texts = texts if texts is not None else page_texts(doc, keep=pages)
    page_index = next((i for i, t in enumerate(texts) if looks_like_boleto(t)), 0)
    text = texts[page_index] if texts else ""
    line = find_line(text)
    page = pages.get(page_index) or doc[page_index]
    # One render serves both codes: a vector QR makes rendering cost the same at any
    # resolution, so the QR's 75 dpi image is this one halved, not a second render.
    image, raster = _render(page)
    reads = _itf_reads(raster)
    objects = page_objects(page)
    placed = [p for img in objects.images for p in read_qr(img)]
    payloads = list(placed)
    if not any(pix_codes.is_br_code(p) for p in payloads):
        # No Pix among the placed images (none, or only a portal's URL QR): the rendered page.
        payloads += [p for p in _qr_reads(image, raster, objects.squares, page.get_size()[1])
                     if p not in payloads]
    valid = [r for r in reads if boleto_math.is_valid_barcode(r)]
    barcode = valid[0] if valid else None
    parsed = None
    if line:
        parsed = boleto_math.parse(line, reference, hints)
    elif barcode:
        parsed = boleto_math.parse(barcode, reference, hints)
    pix, pix_error = read_pix(payloads)
    brcode = next((p for p in payloads if pix_codes.is_br_code(p)), None)
    qr_source = None if brcode is None else "image" if brcode in placed else "render"
    if parsed is None and pix is None:
        raise ParseError("no linha digitavel in the text layer and no readable barcode")
    return BoletoDocument(
        printed_line=line,
        boleto=parsed,
        barcode_read=barcode,
        barcode_reads=tuple(reads),
        pix=pix,
        pix_error=pix_error,
        qr_source=qr_source,
        page_text=text,
        other_qr=tuple(p for p in payloads if not pix_codes.is_br_code(p)),
    )


def read_pix(payloads: list[str]) -> tuple[pix_codes.PixCode | None, str | None]:
    """The Pix among a page's QR texts: only BR Codes count (a URL QR is simply not a Pix);
    the first that reads wins; a BR Code that does not read is said in words, apart."""
    error = None
    for payload in payloads:
        if not pix_codes.is_br_code(payload):
            continue
        try:
            return pix_codes.parse(payload), None
        except ParseError as exc:
            error = error or f"the Pix QR code is not a readable BR Code ({exc})"
    return None, error


def _render(page: pdfium.PdfPage) -> tuple[Image.Image, Raster]:
    """The page at 150 dpi in gray, as an image and as zbar's raster over the same pixels."""
    bitmap = page.render(scale=BARCODE_DPI / 72, grayscale=True)
    image = bitmap.to_pil()
    if bitmap.mode == "L" and bitmap.stride == bitmap.width:
        return image, Raster.view(bitmap.buffer, bitmap.width, bitmap.height)
    return image, Raster.of(image)


def _itf_reads(raster: Raster) -> list[str]:
    """ITF reads: the lower half (the ficha's barcode) on every 8th row first (a boleto's bars
    are ~13 mm, 75 rows, tall), then the whole page on every 4th row, then every row."""
    attempts = (
        lambda: read_itf(raster.band(raster.height // 2, raster.height), row_step=8),
        lambda: read_itf(raster, row_step=4),
        lambda: read_itf(raster, row_step=1),
    )
    reads: list[str] = []
    for attempt in attempts:
        reads += attempt()
        if any(boleto_math.is_valid_barcode(r) for r in reads):
            break
    return reads


def _qr_reads(image: Image.Image, raster: Raster,
              squares: tuple[float, float, float, float] | None, page_height: float) -> list[str]:
    """QR reads on the page's render: first only where the page draws small squares (a vector
    QR), then the whole page at 75 dpi (QR modules are large), then at 150 dpi."""
    if squares is not None:
        k, pad = BARCODE_DPI / 72, QUIET_ZONE_PT
        left, bottom, right, top = squares
        box = (max(0, int((left - pad) * k)), max(0, int((page_height - top - pad) * k)),
               min(image.width, int((right + pad) * k) + 1),
               min(image.height, int((page_height - bottom + pad) * k) + 1))
        if box[0] < box[2] and box[1] < box[3]:
            found = read_qr(image.crop(box))
            if found:
                return found
    return read_qr(image.reduce(BARCODE_DPI // QR_FAST_DPI), step=2) or read_qr(raster)
