"""Decoding ITF barcodes and QR codes from page images with zbar, restricted and padded.

zbar scans lines across the image; an ITF barcode has vertical bars, so horizontal scan lines
every few rows are enough (no vertical ones), which is most of the speed of reading a boleto.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Raster:
    """8-bit gray pixels, rows back to back, as zbar reads them; a band of rows is a view.

    A page render is read in place (a copy of a 2 MB page costs as much as scanning it).
    """

    address: int
    width: int
    height: int
    owner: object  # keeps the pixels alive while this view is used

    @classmethod
    def of(cls, image: Image.Image) -> Raster:
        """A copy of an image, gray, with a white margin (zbar needs a quiet zone)."""
        gray = image.convert("L") if image.mode != "L" else image
        data = ImageOps.expand(gray, border=MARGIN, fill=255).tobytes()
        address = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
        return cls(address, gray.width + 2 * MARGIN, gray.height + 2 * MARGIN, data)

    @classmethod
    def view(cls, buffer: ctypes.Array, width: int, height: int) -> Raster:
        """Pixels already in memory, one byte each with no row padding (a gray page render)."""
        assert ctypes.sizeof(buffer) >= width * height, "buffer smaller than the image"
        return cls(ctypes.addressof(buffer), width, height, buffer)

    def band(self, top: int, bottom: int) -> Raster:
        """Rows top to bottom (exclusive) of this raster, without copying them."""
        top, bottom = max(0, top), min(self.height, bottom)
        return Raster(self.address + top * self.width, self.width, max(0, bottom - top),
                      self.owner)


def _scan(image: Image.Image | Raster, symbol: ZBarSymbol, x_density: int, y_density: int,
          length: int | None = None) -> list[bytes]:
    """zbar with one symbology enabled and the given scan-line spacing (0 = that axis off)."""
    raster = image if isinstance(image, Raster) else Raster.of(image)
    if raster.width == 0 or raster.height == 0:
        return []
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
            zbar_image_set_size(img, raster.width, raster.height)
            zbar_image_set_data(img, ctypes.c_void_p(raster.address),
                                raster.width * raster.height, None)
            if zbar_scan_image(scanner, img) < 0:
                return []
            return [d.data for d in pyzbar._decode_symbols(pyzbar._symbols_for_image(img))]


def read_itf(image: Image.Image | Raster, row_step: int = 4, vertical: bool = False) -> list[str]:
    """Interleaved 2 of 5 values of 44 digits (ITF has no checksum: callers validate).

    Rows (every row_step-th) read bars standing upright; vertical=True reads columns instead,
    for a barcode on a page turned 90 or 270 degrees.
    """
    x, y = (row_step, 0) if vertical else (0, row_step)
    found = _scan(image, ZBarSymbol.I25, x_density=x, y_density=y, length=44)
    return [d.decode("ascii", errors="replace") for d in found]


def read_qr(image: Image.Image | Raster, step: int = 1) -> list[str]:
    """QR code texts found in an image."""
    out = []
    for data in _scan(image, ZBarSymbol.QRCODE, x_density=step, y_density=step):
        try:
            out.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(data.decode("latin-1"))
    return out
