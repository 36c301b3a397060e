"""Boleto PDF: the printed line from the text layer, the ITF barcode and Pix QR from the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pypdfium2 as pdfium
from PIL import Image

from parsers import boleto as boleto_math
from parsers import pix as pix_codes
from parsers.barcodes import Raster, read_itf, read_qr
from parsers.errors import NotABoletoError, ParseError
from parsers.pdf import PageObjects, open_pdf, page_objects, page_texts

BARCODE_DPI = 150
QUIET_ZONE_PT = 18.0  # white margin an ITF reader needs each side (> 10 narrow bars)
HIRES_DPI = 300
QR_IMAGE_SIDE = 1170  # an A4 side at 100 dpi: large images are read reduced to about this
QR_FAST_DPI = 75
QUIET_ZONE_PT = 12  # around a vector QR's squares when only that patch is read
QR_HALVED_SIDE = 300  # a placed QR image this large is read halved first (its modules ~8 px)
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
    more: tuple[boleto_math.Boleto, ...] = ()  # further boletos on the page (a carne)


def find_lines(text: str) -> list[str]:
    """Every distinct linha digitavel (47 digits) printed in a text, in order (a carne prints
    several); raise for an arrecadacao slip when there is none."""
    lines = list(dict.fromkeys("".join(m.groups()) for m in _LINE.finditer(text)))
    if not lines and _ARRECADACAO.search(text):
        raise NotABoletoError("the PDF carries an arrecadacao code (48 digits starting with 8), "
                              "not a boleto de cobranca")
    return lines


def find_line(text: str) -> str | None:
    """The first linha digitavel (47 digits) printed in a text; raise for an arrecadacao slip."""
    lines = find_lines(text)
    return lines[0] if lines else None


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
    lines = find_lines(text)
    line = lines[0] if lines else None
    page = pages.get(page_index) or doc[page_index]
    if page.get_rotation():
        # A page turned by /Rotate is read as drawn, as a person turns the sheet to read it
        # (in memory only; the file is not written). Its render is then the fast path's.
        page.set_rotation(0)
    # The full page is rendered only when a fast read fails: a genuine vector boleto is read
    # from two small renders, the ficha's half and the QR's squares (or its placed image).
    render = _Render(page)
    objects = page_objects(page)
    # No text says how many boletos the page holds (a scanned carne): the whole page is read.
    # A page with no text (a scan), or no QR to read apart (the QR look then renders it
    # all), is rendered whole at once.
    reads = _itf_reads(render, objects.images, need=max(1, len(lines)),
                       whole_page=not text.strip(),
                       whole_first=not objects.images and objects.squares is None,
                       bars=objects.bars)
    scanned = not text.strip() and bool(objects.images) and objects.squares is None
    placed = [p for img in objects.images for p in _qr_in_image(img, thorough=False)]
    payloads = list(placed)
    if not any(pix_codes.is_br_code(p) for p in payloads):
        # No Pix among the placed images (none, or only a portal's URL QR). A scan's image
        # is the page: read it at full resolution; otherwise read the rendered page.
        more = ([p for img in objects.images for p in _qr_in_image(img, thorough=True)]
                if scanned else
                _qr_reads(render, objects.squares, expected=_expects_qr(text, objects)))
        placed += more if scanned else []
        payloads += [p for p in more if p not in payloads]
    barcode, others = _pick_barcodes(lines, reads)
    parsed = None
    if line:
        parsed = boleto_math.parse(line, reference, hints)
    elif barcode:  # no text (a scan): the line is derived from the barcode
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
        more=tuple(boleto_math.parse(code, reference, hints) for code in others),
    )


def _pick_barcodes(lines: list[str], reads: list[str]) -> tuple[str | None, list[str]]:
    """The barcode read for the first printed line, and the other boletos on the page (a
    carne): further printed lines, then barcodes that no printed line accounts for.

    When the first line's own barcode was not read, a barcode that no printed line accounts
    for is taken as its (a rewritten line shows as a mismatch); so is another printed line's
    barcode with the same amount and due date (malware that rewrote one of the two printed
    copies). Another slip of a carne (its own due date or amount) is not: unread, not false.
    """
    valid = list(dict.fromkeys(r for r in reads if boleto_math.is_valid_barcode(r)))
    promised = [boleto_math.barcode_from_line(x) for x in lines]
    if not lines:
        return (valid[0] if valid else None), valid[1:]
    if promised[0] in valid:
        barcode: str | None = promised[0]
    else:
        barcode = next((v for v in valid if v not in promised), None) or next(
            (v for v in valid if v[5:19] == promised[0][5:19]), None)
    extra = [v for v in valid if v != barcode and v not in promised]
    return barcode, lines[1:] + extra


def read_pix(payloads: list[str]) -> tuple[pix_codes.PixCode | None, str | None]:
    """The Pix among a page's QR texts: only BR Codes count (a URL QR is simply not a Pix).

    The first whose CRC holds wins, else the first that reads (its CRC is then judged); a BR
    Code that does not read at all is said in words, apart, never as a failed CRC.
    """
    read: list[pix_codes.PixCode] = []
    error = None
    for payload in payloads:
        if not pix_codes.is_br_code(payload):
            continue
        try:
            read.append(pix_codes.parse(payload))
        except ParseError as exc:
            error = error or f"the Pix QR code is not a readable BR Code ({exc})"
    if read:
        return next((p for p in read if p.crc_valid), read[0]), None
    return None, error


_QR_WORDS = re.compile(r"(?i)\bpix\b|qr\s*-?\s*code|c[oó]digo\s+qr")


def _expects_qr(text: str, objects: PageObjects) -> bool:
    """Whether the page gives a reason to look hard for a QR: drawn squares, placed images,
    or words that name one ("Pague com Pix", "QR Code"); a page that names none pays one
    cheap 75 dpi look only."""
    return objects.squares is not None or bool(objects.images) or bool(_QR_WORDS.search(text))


def _raster(bitmap: pdfium.PdfBitmap) -> Raster:
    """zbar's raster over a gray render's own pixels (a copy only when rows are padded)."""
    if bitmap.mode == "L" and bitmap.stride == bitmap.width:
        return Raster.view(bitmap.buffer, bitmap.width, bitmap.height)
    return Raster.of(bitmap.to_pil())


class _Render:
    """A page's renders at 150 dpi in gray: the whole page once, on first need, and the
    parts a fast read looks at (the lower half, a QR's patch), each far cheaper to draw."""

    def __init__(self, page: pdfium.PdfPage) -> None:
        self.page = page
        self.width, self.height = page.get_size()
        self._whole: tuple[Image.Image, Raster] | None = None

    def whole(self) -> tuple[Image.Image, Raster]:
        """The page as an image and as zbar's raster over the same pixels."""
        if self._whole is None:
            bitmap = self.page.render(scale=BARCODE_DPI / 72, grayscale=True)
            self._whole = bitmap.to_pil(), _raster(bitmap)
        return self._whole

    def part(self, left: float, bottom: float, right: float, top: float) -> pdfium.PdfBitmap:
        """The box (points, PDF's bottom-up axis, clipped to the page) alone."""
        left, bottom = max(0.0, left), max(0.0, bottom)
        right, top = min(self.width, right), min(self.height, top)
        return self.page.render(scale=BARCODE_DPI / 72, grayscale=True,
                                crop=(left, bottom, self.width - right, self.height - top))

    def lower_half(self, whole: bool = False) -> Raster:
        """The page's lower half, where the ficha's barcode is printed (a band of the whole
        page's render when there is one, or when `whole` asks for it)."""
        if whole or self._whole is not None:
            self.whole()
            assert self._whole is not None
            raster = self._whole[1]
            return raster.band(raster.height // 2, raster.height)
        return _raster(self.part(0.0, 0.0, self.width, self.height / 2))


def _itf_reads(render: _Render, images: tuple[Image.Image, ...], need: int = 1,
               whole_page: bool = False, whole_first: bool = False,
               bars: tuple[float, float, float, float] | None = None) -> list[str]:
    """ITF reads, cheapest first, until `need` valid barcodes are found.

    The fast path: the bars' own box when the page draws them as paths (with their quiet
    zones; ~1/20 of the pixels of the lower half), then the lower half (the ficha's barcode)
    rendered alone on every 8th row (a boleto's bars are ~13 mm, 75 rows, tall), then the
    whole page on every 4th row. Only when that fails: columns (a page turned 90 or 270
    degrees, by /Rotate or a sideways scan), the placed images at their own resolution (a
    small raster barcode stretched over the ficha, or a scan's own pixels), every row, and
    last a 300 dpi render of the page.
    """
    first = []
    if bars is not None and not whole_page:
        left, bottom, right, top = bars
        quiet = QUIET_ZONE_PT
        first.append(lambda: read_itf(_raster(render.part(left - quiet, bottom - 2,
                                                          right + quiet, top + 2)), row_step=4))
    attempts = [
        *first,
        lambda: read_itf(render.lower_half(whole=whole_page or whole_first), row_step=8),
        lambda: read_itf(render.whole()[1], row_step=4),
        lambda: read_itf(render.whole()[1], row_step=4, vertical=True),
        *(_image_attempt(img) for img in images),
        lambda: read_itf(render.whole()[1], row_step=1),
        lambda: _hires_reads(render.page),
    ]
    reads: list[str] = []
    for i, attempt in enumerate(attempts):
        reads += attempt()
        if whole_page and i == 0:
            continue  # the lower half alone may hide a carne's other slips
        if len({r for r in reads if boleto_math.is_valid_barcode(r)}) >= need:
            break
    return list(dict.fromkeys(reads))


def _image_attempt(image: Image.Image) -> Callable[[], list[str]]:
    """Read an embedded image at its own resolution, rows then columns."""
    def attempt() -> list[str]:
        if image.width < 40 and image.height < 40:
            return []
        step = 2 if image.width * image.height < 1_000_000 else 4
        raster = Raster.of(image)
        found = read_itf(raster, row_step=step)
        if not any(boleto_math.is_valid_barcode(r) for r in found):
            found += read_itf(raster, row_step=step, vertical=True)
        return found
    return attempt


def _hires_reads(page: pdfium.PdfPage) -> list[str]:
    """The page again at 300 dpi (a barcode drawn too thin for 150 dpi), rows and columns."""
    raster = _raster(page.render(scale=HIRES_DPI / 72, grayscale=True))
    found = read_itf(raster, row_step=4)
    if not any(boleto_math.is_valid_barcode(r) for r in found):
        found += read_itf(raster, row_step=4, vertical=True)
    return found


def _qr_in_image(image: Image.Image, thorough: bool) -> list[str]:
    """QR texts in a placed image. A large one (a scan) is read reduced to about 100 dpi
    first (QR modules are large; full resolution costs 5x more); thorough reads it whole.
    One of a QR's size (a placed Pix QR, ~500 px) is read halved on every other line first,
    whole only when that finds no Pix (a quarter of the cost when it does)."""
    factor = max(1, round(max(image.size) / QR_IMAGE_SIDE))
    if thorough:
        return read_qr(image, step=2) if factor > 1 else []
    if factor > 1:
        return read_qr(image.reduce(factor), step=2)
    if min(image.size) >= QR_HALVED_SIDE:
        found = read_qr(image.reduce(2), step=2)
        if any(pix_codes.is_br_code(p) for p in found):
            return found
    return read_qr(image)


def _qr_reads(render: _Render, squares: tuple[float, float, float, float] | None,
              expected: bool = True) -> list[str]:
    """QR reads: first only where the page draws small squares (a vector QR), that patch
    rendered alone and read on every other line, then every line; then the whole page at
    75 dpi (QR modules are large), then at 150 dpi, the last only when a QR is expected (a
    page with no QR need not pay two full-page scans)."""
    if squares is not None:
        pad = QUIET_ZONE_PT
        left, bottom, right, top = squares
        if left - pad < render.width and bottom - pad < render.height and right + pad > 0 \
                and top + pad > 0:
            patch = render.part(left - pad, bottom - pad, right + pad, top + pad)
            raster = _raster(patch)
            found = read_qr(raster, step=2) or read_qr(raster)
            if found:
                return found
    image, raster = render.whole()
    found = read_qr(image.reduce(BARCODE_DPI // QR_FAST_DPI), step=2)
    return found or (read_qr(raster) if expected else [])
