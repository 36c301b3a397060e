"""Decoding ITF barcodes and QR codes from page images with zbar, restricted and padded.

zbar scans lines across the image; an ITF barcode has vertical bars, so horizontal scan lines
every few rows are enough (no vertical ones), which is most of the speed of reading a boleto.
"""

from __future__ import annotations

from ctypes import c_void_p, cast

from PIL import Image, ImageOps
from pyzbar import pyzbar
from pyzbar.wrapper import (
    ZBarConfig,
    ZBarSymbol,
    zbar_image_scanner_set_config,
    zbar_image_set_data,
    zbar_image_set_format,
    zbar_image_set_size,
    zbar_scan_image,
)

MARGIN = 24
_Y800 = pyzbar._FOURCC["L800"]


def _prepare(image: Image.Image) -> Image.Image:
    gray = image.convert("L") if image.mode != "L" else image
    return ImageOps.expand(gray, border=MARGIN, fill=255)


def _scan(image: Image.Image, symbol: ZBarSymbol, x_density: int, y_density: int,
          length: int | None = None) -> list[bytes]:
    """zbar with one symbology enabled and the given scan-line spacing (0 = that axis off)."""
    prepared = _prepare(image)
    pixels = prepared.tobytes()
    width, height = prepared.size
    with pyzbar._image_scanner() as scanner:
        for other in ZBarSymbol:
            zbar_image_scanner_set_config(scanner, other, ZBarConfig.CFG_ENABLE,
                                          1 if other == symbol else 0)
        zbar_image_scanner_set_config(scanner, 0, ZBarConfig.CFG_X_DENSITY, x_density)
        zbar_image_scanner_set_config(scanner, 0, ZBarConfig.CFG_Y_DENSITY, y_density)
        if length is not None:
            zbar_image_scanner_set_config(scanner, symbol, ZBarConfig.CFG_MIN_LEN, length)
            zbar_image_scanner_set_config(scanner, symbol, ZBarConfig.CFG_MAX_LEN, length)
        with pyzbar._image() as img:
            zbar_image_set_format(img, _Y800)
            zbar_image_set_size(img, width, height)
            zbar_image_set_data(img, cast(pixels, c_void_p), len(pixels), None)
            if zbar_scan_image(scanner, img) < 0:
                return []
            return [d.data for d in pyzbar._decode_symbols(pyzbar._symbols_for_image(img))]


def read_itf(image: Image.Image, row_step: int = 4) -> list[str]:
    """Interleaved 2 of 5 values of 44 digits (ITF has no checksum: callers validate)."""
    found = _scan(image, ZBarSymbol.I25, x_density=0, y_density=row_step, length=44)
    return [d.decode("ascii", errors="replace") for d in found]


def read_qr(image: Image.Image, step: int = 1) -> list[str]:
    """QR code texts found in an image."""
    out = []
    for data in _scan(image, ZBarSymbol.QRCODE, x_density=step, y_density=step):
        try:
            out.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(data.decode("latin-1"))
    return out
