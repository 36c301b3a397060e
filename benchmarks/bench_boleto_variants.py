"""Boleto reading on the variants real bills show: vector pages, turned pages, small raster
barcodes, image-only scans (100-300 dpi, JPEG, skew, sideways) and a scanned carne.

Run: python -m benchmarks.bench_boleto_variants  (CPU time, median over several bills, one core)
Targets (issue 13): vector PDFs keep their <= 15 ms median; scans at 200 dpi under 150 ms.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date

from fixtures.bills import Bill, make_bill
from fixtures.documents_pdf import boleto_pdf
from fixtures.variants import Scan, carne_pdf, scanned_boleto
from parsers import parse_boleto_pdf

BILLS = 4
REPEAT = 5
TARGETS = {"vector": 15.0, "no Pix (no QR at all)": 15.0, "scan 200 dpi": 150.0,
           "scan 200 dpi JPEG": 150.0, "scan 200 dpi skew 1": 150.0,
           "scan 200 dpi sideways": 150.0}

VARIANTS: dict[str, Callable[[Bill], bytes]] = {
    "vector": lambda b: boleto_pdf(b),
    "no Pix (no QR at all)": lambda b: boleto_pdf(b, pix=False),
    "portal QR beside the Pix": lambda b: boleto_pdf(b, extra_qr="https://cliente.example/f/1"),
    "/Rotate 90": lambda b: boleto_pdf(b, rotate=90),
    "/Rotate 270": lambda b: boleto_pdf(b, rotate=270),
    "small raster barcode": lambda b: boleto_pdf(b, barcode="image-small"),
    "Pix only": lambda b: boleto_pdf(b, barcode=None, line=False),
    "scan 100 dpi": lambda b: scanned_boleto(b, Scan(dpi=100)),
    "scan 150 dpi": lambda b: scanned_boleto(b, Scan(dpi=150)),
    "scan 200 dpi": lambda b: scanned_boleto(b, Scan(dpi=200)),
    "scan 200 dpi JPEG": lambda b: scanned_boleto(b, Scan(dpi=200, jpeg=70)),
    "scan 200 dpi skew 1": lambda b: scanned_boleto(b, Scan(dpi=200, skew=1.0)),
    "scan 200 dpi sideways": lambda b: scanned_boleto(b, Scan(dpi=200, turn=90)),
    "scan 300 dpi": lambda b: scanned_boleto(b, Scan(dpi=300)),
}


def _bills() -> list[Bill]:
    return [make_bill(77, f"bench-{i}", 2026, 1 + i, "abrasf-2.04", str(770000 + i),
                      "vector" if i % 2 == 0 else "image") for i in range(BILLS)]


def _read(pdf: bytes, bill: Bill) -> tuple[bool, bool]:
    doc = parse_boleto_pdf(pdf, date(2026, 6, 1))
    found = {doc.barcode_read} | {b.barcode for b in doc.more}
    return (bill.boleto.barcode in found,
            doc.pix is not None and doc.pix.payload == bill.pix.payload)


def main() -> None:
    """One line per variant: median ms, barcodes and Pix read, target and ratio."""
    bills = _bills()
    work = {name: [(make(b), b) for b in bills] for name, make in VARIANTS.items()}
    carne = carne_pdf(bills[:3])  # one page, no Pix: each of its 3 bills should be read
    work["scanned carne of 3"] = [(carne, b) for b in bills[:3]]
    times: dict[str, list[float]] = {name: [] for name in work}
    read: dict[str, tuple[int, int]] = {}
    for name, items in work.items():
        bars = pixes = 0
        for pdf, bill in items:
            bar, pix = _read(pdf, bill)  # warm-up, and what was read
            bars, pixes = bars + bar, pixes + pix
        read[name] = (bars, pixes)
    for _ in range(REPEAT):  # rounds take turns so a slow minute falls on every row alike
        for name, items in work.items():
            for pdf, _bill in items:
                start = time.process_time()
                parse_boleto_pdf(pdf, date(2026, 6, 1))
                times[name].append(time.process_time() - start)
    base = statistics.median(times["vector"]) * 1000
    print(f"{'variant':<26} {'median ms':>9} {'x vector':>8} {'barcode':>7} {'pix':>5} "
          f"{'target':>6} {'ok':>3}")
    for name, t in times.items():
        ms = statistics.median(t) * 1000
        bars, pixes = read[name]
        n = len(work[name])
        target = TARGETS.get(name)
        ok = ("yes" if ms <= target else "NO") if target else ""
        print(f"{name:<26} {ms:9.1f} {ms / base:8.1f} {bars:>5}/{n} {pixes:>3}/{n} "
              f"{target or 0:6.0f} {ok:>3}")


if __name__ == "__main__":
    main()
