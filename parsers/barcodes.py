"""Decoding ITF barcodes and QR codes from page images with zbar, restricted and padded."""

from __future__ import annotations

from PIL import Image, ImageOps
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as zbar_decode

MARGIN = 24


def _prepare(image: Image.Image) -> Image.Image:
    gray = image.convert("L") if image.mode != "L" else image
    return ImageOps.expand(gray, border=MARGIN, fill=255)


def read_itf(image: Image.Image) -> list[str]:
    """Interleaved 2 of 5 values found in an image (ITF carries no checksum: callers validate)."""
    found = zbar_decode(_prepare(image), symbols=[ZBarSymbol.I25])
    return [r.data.decode("ascii", errors="replace") for r in found]


def read_qr(image: Image.Image) -> list[str]:
    """QR code texts found in an image."""
    found = zbar_decode(_prepare(image), symbols=[ZBarSymbol.QRCODE])
    out = []
    for r in found:
        try:
            out.append(r.data.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(r.data.decode("latin-1"))
    return out
