"""Parse cost per document and per email on the sample bills, against DESIGN.md's floors.

Run: python -m benchmarks.bench_parse  (CPU time, median of repeated runs, one core)
"""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pdfplumber
import pypdfium2 as pdfium
from lxml import etree
from pyzbar.pyzbar import decode

from parsers import parse_boleto_pdf, parse_nfse, parse_nfse_pdf
from parsers.message import parse_message

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
REPEAT = 9
# Floors and targets, milliseconds (DESIGN.md "Speed budget", issue 7 targets).
FLOORS = {"nfse_xml": 0.1, "boleto_pdf": 1.0 + 30.0 / 4, "nfse_pdf": 2.0, "email": 20.0}
TARGETS = {"nfse_xml": 1.0, "boleto_pdf": 15.0, "nfse_pdf": 5.0, "email": 20.0}


def median_ms(fn: Callable[[bytes], object], inputs: list[bytes]) -> float:
    """Median CPU milliseconds of fn over every input, REPEAT times, after a warm-up."""
    return medians({"": (fn, inputs)})[""]


def medians(work: dict[str, tuple[Callable[[bytes], object], list[bytes]]]) -> dict[str, float]:
    """Median CPU milliseconds of each fn over its inputs, after a warm-up.

    The measurements take turns, round after round, so that a slow minute on this shared
    machine falls on every row alike instead of on whichever row it happens to hit.
    """
    for fn, inputs in work.values():
        for data in inputs:
            fn(data)
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(REPEAT):
        for name, (fn, inputs) in work.items():
            for data in inputs:
                start = time.process_time()
                fn(data)
                times[name].append(time.process_time() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def naive_boleto(data: bytes) -> object:
    """The path to beat: pdfplumber full text, 300 dpi full page, every symbology."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        pdf.pages[0].extract_text()
    page = pdfium.PdfDocument(data)[0]
    image = page.render(scale=300 / 72, grayscale=True).to_pil()
    saved = os.dup(2)  # zbar's DataBar decoder prints assertion noise on stderr
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        return decode(image)
    finally:
        os.dup2(saved, 2)


def main() -> None:
    """Print one line per measurement: median, floor, target, ratios."""
    docs = ROOT / "documents"
    genuine = sorted(p.name.split(".")[0] for p in docs.glob("genuine-*.nfse.xml"))
    xmls = [(docs / f"{c}.nfse.xml").read_bytes() for c in genuine]
    boletos = [(docs / f"{c}.boleto.pdf").read_bytes() for c in genuine]
    nfse_pdfs = [(docs / f"{c}.nfse.pdf").read_bytes() for c in genuine]
    emails = [p.read_bytes() for p in sorted((ROOT / "mailbox").glob("genuine-*.eml"))]
    rows = list(medians({
        "nfse_xml": (parse_nfse, xmls),
        "lxml_only": (lambda d: etree.fromstring(d), xmls),
        "boleto_pdf": (parse_boleto_pdf, boletos),
        "nfse_pdf": (parse_nfse_pdf, nfse_pdfs),
        "email": (parse_message, emails),
    }).items())
    print(f"{'what':<12} {'median ms':>10} {'floor ms':>9} {'x floor':>8} {'target':>7} {'ok':>3}")
    for name, ms in rows:
        floor, target = FLOORS.get(name), TARGETS.get(name)
        ratio = f"{ms / floor:8.1f}" if floor else " " * 8
        verdict = ("yes" if ms <= target else "NO") if target else ""
        print(f"{name:<12} {ms:10.2f} {floor or 0:9.2f} {ratio} {target or 0:7.1f} {verdict:>3}")
    naive = median_ms(naive_boleto, boletos[:3])
    boleto_ms = dict(rows)["boleto_pdf"]
    print(f"naive boleto path {naive:.1f} ms: confere's is {naive / boleto_ms:.1f}x faster")


if __name__ == "__main__":
    main()
