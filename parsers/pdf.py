"""PDF access shared by the boleto and NFS-e readers: open safely, page text, render, images."""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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


@functools.cache
def _object_calls() -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any],
                             Callable[[Any], Any]]:
    """(get object, get type, get bounds, page handle) for the loop over a page's objects.

    pypdfium2's prototypes check the type of every argument, which costs as much as the
    calls themselves: on a page of a thousand paths (a vector QR) the loop took 4.5 ms, and
    2.2 ms through plain pointer prototypes of the same three functions of the same library.
    Any surprise in the binding (a new pypdfium2) falls back to its own prototypes.
    """
    try:
        from pypdfium2_raw import bindings

        library = ctypes.CDLL(bindings._libs["pdfium"]._name)
        get_object = library.FPDFPage_GetObject
        get_object.restype = ctypes.c_void_p  # an address, wrapped again below
        get_type = library.FPDFPageObj_GetType
        get_type.restype = ctypes.c_int
        get_bounds = library.FPDFPageObj_GetBounds
        get_bounds.restype = ctypes.c_int

        def get_obj(page: ctypes.c_void_p, index: int) -> ctypes.c_void_p:
            return ctypes.c_void_p(get_object(page, index))

        return get_obj, get_type, get_bounds, lambda raw: ctypes.cast(raw, ctypes.c_void_p)
    except (ImportError, AttributeError, KeyError, OSError):
        return (pdfium_c.FPDFPage_GetObject, pdfium_c.FPDFPageObj_GetType,
                pdfium_c.FPDFPageObj_GetBounds, lambda raw: raw)


def page_objects(page: pdfium.PdfPage, image_limit: int = 8) -> PageObjects:
    """One pass over a page's objects: its raster images, and the box where small squares
    cluster (None unless they make one square-ish patch well within the page)."""
    images: list[Image.Image] = []
    raw = page.raw
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    where = (ctypes.byref(left), ctypes.byref(bottom), ctypes.byref(right), ctypes.byref(top))
    lefts: list[float] = []  # the small squares' corners
    bottoms: list[float] = []
    rights: list[float] = []
    tops: list[float] = []
    lo, hi = SQUARE_PT
    bars: dict[tuple[int, int], list[Box]] = {}  # thin upright paths by their (bottom, top)
    # The raw API: a vector QR is hundreds of path objects, too many to wrap one by one.
    get_object, get_type, get_bounds, handle = _object_calls()
    path, image_kind = pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE
    page_handle = handle(raw)
    for i in range(pdfium_c.FPDFPage_CountObjects(raw)):
        obj = get_object(page_handle, i)
        kind = get_type(obj)
        if kind == path:
            if not get_bounds(obj, *where):
                continue
            x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
            w, h = x1 - x0, y1 - y0
            if lo < w < hi and lo < h < hi and abs(w - h) < 0.2 * (w if w > h else h):
                lefts.append(x0)
                bottoms.append(y0)
                rights.append(x1)
                tops.append(y1)
            elif w < BAR_MAX_WIDTH_PT and BAR_PT[0] < h < BAR_PT[1]:
                bars.setdefault((round(y0), round(y1)), []).append((x0, y0, x1, y1))
        elif kind == image_kind and len(images) < image_limit:
            try:
                typed = ctypes.cast(obj, pdfium_c.FPDF_PAGEOBJECT)
                image = pdfium.PdfImage(typed, page=page, pdf=page.pdf, level=0)
                images.append(image.get_bitmap(render=False).to_pil())
            except (pdfium.PdfiumError, ValueError, OSError, TypeError):
                continue
    squares = len(lefts)
    box = (min(lefts, default=0.0), min(bottoms, default=0.0), max(rights, default=0.0),
           max(tops, default=0.0))
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
