"""PDF access shared by the boleto and NFS-e readers: open safely, page text, render, images."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from parsers.errors import HostileInputError, ParseError

MAX_PDF_BYTES = 20 * 1024 * 1024
MAX_PAGES_READ = 4


@contextlib.contextmanager
def open_pdf(data: bytes, max_bytes: int = MAX_PDF_BYTES) -> Iterator[pdfium.PdfDocument]:
    """Open PDF bytes with pdfium, refusing oversize or non-PDF input with a clear reason."""
    if len(data) > max_bytes:
        raise HostileInputError(f"PDF is {len(data):,} bytes, over the {max_bytes:,} byte limit")
    if b"%PDF-" not in data[:1024]:
        raise ParseError("not a PDF: no %PDF- header in the first 1 KB")
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise ParseError(f"corrupt PDF: {exc}") from exc
    try:
        if len(doc) == 0:
            raise ParseError("PDF has no pages")
        yield doc
    finally:
        doc.close()


def page_texts(doc: pdfium.PdfDocument, max_pages: int = MAX_PAGES_READ,
               keep: dict[int, pdfium.PdfPage] | None = None) -> list[str]:
    """Text layer of the first pages (pdfium: ~2 ms a page, far faster than layout analysis).

    keep, when given, receives the loaded pages (closed with the document) so that a later
    render does not load and parse a page's content a second time.
    """
    out = []
    for i in range(min(len(doc), max_pages)):
        page = doc[i]
        try:
            textpage = page.get_textpage()
            out.append(textpage.get_text_range())
            textpage.close()
        finally:
            if keep is None:
                page.close()
            else:
                keep[i] = page
    return out


@dataclass(frozen=True)
class PageObjects:
    """What a page draws that a code reader can use without looking at every pixel."""

    images: tuple[Image.Image, ...]  # raster images placed on it (a QR placed as an image)
    squares: tuple[float, float, float, float] | None  # points (l, b, r, t): a vector QR's modules
    bars: tuple[float, float, float, float] | None = None  # points: a vector barcode's bars


Box = tuple[float, float, float, float]


BAR_PT = (17.0, 60.0)  # a barcode's bar drawn as a path: 6 to 21 mm tall (a boleto's: 13 mm)
BAR_MAX_WIDTH_PT = 6.0
MIN_BARS = 40  # a boleto's ITF has 114 bars; a table's rules are far fewer of one height
SQUARE_PT = (0.5, 8.0)  # a QR module drawn as a path: 0.2 to 3 mm a side
MIN_SQUARES = 50  # even a version 1 QR (21 x 21) has more dark modules than this


def page_objects(page: pdfium.PdfPage, image_limit: int = 8) -> PageObjects:
    """One pass over a page's objects: its raster images, and the box where small squares
    cluster (None unless they make one square-ish patch well within the page)."""
    images: list[Image.Image] = []
    raw = page.raw
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    box = [float("inf"), float("inf"), float("-inf"), float("-inf")]
    squares = 0
    lo, hi = SQUARE_PT
    bars: dict[tuple[int, int], list[Box]] = {}  # thin upright paths by their (bottom, top)
    # The raw API: a vector QR is hundreds of path objects, too many to wrap one by one.
    for i in range(pdfium_c.FPDFPage_CountObjects(raw)):
        obj = pdfium_c.FPDFPage_GetObject(raw, i)
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == pdfium_c.FPDF_PAGEOBJ_PATH:
            if not pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
                continue
            w, h = right.value - left.value, top.value - bottom.value
            if lo < w < hi and lo < h < hi and abs(w - h) < 0.2 * max(w, h):
                squares += 1
                box = [min(box[0], left.value), min(box[1], bottom.value),
                       max(box[2], right.value), max(box[3], top.value)]
            elif w < BAR_MAX_WIDTH_PT and BAR_PT[0] < h < BAR_PT[1]:
                bars.setdefault((round(bottom.value), round(top.value)), []).append(
                    (left.value, bottom.value, right.value, top.value))
        elif kind == pdfium_c.FPDF_PAGEOBJ_IMAGE and len(images) < image_limit:
            try:
                image = pdfium.PdfImage(obj, page=page, pdf=page.pdf, level=0)
                images.append(image.get_bitmap(render=False).to_pil())
            except (pdfium.PdfiumError, ValueError, OSError, TypeError):
                continue
    found = None
    if squares >= MIN_SQUARES:
        w, h = box[2] - box[0], box[3] - box[1]
        page_w, page_h = page.get_size()
        if abs(w - h) < 0.2 * max(w, h) and w * h < page_w * page_h / 4:
            found = (box[0], box[1], box[2], box[3])
    return PageObjects(tuple(images), found, _bar_box(bars))


def _bar_box(bars: dict[tuple[int, int], list[Box]]) -> Box | None:
    """The box of the largest set of bars of one height on one line, when it can be a barcode."""
    row = max(bars.values(), key=len, default=[])
    if len(row) < MIN_BARS:
        return None
    return (min(b[0] for b in row), min(b[1] for b in row),
            max(b[2] for b in row), max(b[3] for b in row))
