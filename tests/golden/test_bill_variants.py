"""Genuine bills as they really come (turned, scanned, small barcodes, extra QR codes, folded
headers, odd MIME), read by the real CLI: the right fields, or review naming what could not be
read; never block. Ordinary mail in odd shapes is ignored, not quarantined."""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.documents_pdf import boleto_pdf
from fixtures.variants import (
    PORTAL_URL,
    SERPRO_FOLDED,
    WATCH_HTML,
    Scan,
    carne_pdf,
    genuine_bill,
    ordinary_mail,
    scanned_boleto,
    with_boleto,
    with_header,
    with_part,
)
from parsers import parse_boleto_pdf

from conftest import FIXTURES, cases, json_lines, run_cli

GENUINE = [c for c in cases("genuine") if c["facts"]["mime_shape"] != "forwarded"]


def _raw(i: int) -> bytes:
    return (FIXTURES / GENUINE[i]["file"]).read_bytes()


def _bill(i: int):
    return genuine_bill(GENUINE[i]["case"])


# name -> (genuine case index, email bytes maker, expected verdict)
READABLE = {
    "folded-from": (0, lambda i: with_header(_raw(i), "From", SERPRO_FOLDED), "ok"),
    "portal-qr": (1, lambda i: with_boleto(_raw(i), boleto_pdf(_bill(i), extra_qr=PORTAL_URL)),
                  "ok"),
    "rotate-90": (2, lambda i: with_boleto(_raw(i), boleto_pdf(_bill(i), rotate=90)), "ok"),
    "rotate-270": (3, lambda i: with_boleto(_raw(i), boleto_pdf(_bill(i), rotate=270)), "ok"),
    "small-raster-barcode": (4, lambda i: with_boleto(
        _raw(i), boleto_pdf(_bill(i), barcode="image-small")), "ok"),
    "date-header-1990": (5, lambda i: with_header(_raw(i), "Date",
                                                  "Mon, 01 Jan 1990 08:00:00 -0300"), "ok"),
    "watch-html-part": (6, lambda i: with_part(_raw(i), "text/watch-html", WATCH_HTML), "ok"),
}
# Read from the image only: no printed line to hold the barcode against, so a person looks.
NEEDS_A_PERSON = {
    "scan-200-jpeg-skew": (0, lambda i: with_boleto(
        _raw(i), scanned_boleto(_bill(i), Scan(dpi=200, jpeg=70, skew=0.8))), "barcode"),
    "scan-200-sideways": (1, lambda i: with_boleto(
        _raw(i), scanned_boleto(_bill(i), Scan(dpi=200, turn=270))), "barcode"),
    "scan-100-dpi": (2, lambda i: with_boleto(
        _raw(i), scanned_boleto(_bill(i), Scan(dpi=100))), "pix"),
    "pix-only": (3, lambda i: with_boleto(
        _raw(i), boleto_pdf(_bill(i), barcode=None, line=False)), "pix"),
}


def _ingest(tmp_path, demo_config, files: dict[str, bytes]) -> dict[str, dict]:
    paths = []
    for name, raw in files.items():
        path = tmp_path / f"{name}.eml"
        path.write_bytes(raw)
        paths.append(path)
    out = run_cli("ingest", "--json", "--config", str(demo_config), *map(str, paths)).stdout
    return dict(zip(files, json_lines(out), strict=True))


@pytest.fixture(scope="module")
def readable(tmp_path_factory):
    from conftest import DEMO_CONFIG

    tmp = tmp_path_factory.mktemp("readable")
    config = tmp / "confere.toml"
    config.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp / 'c.db'}", blobs=tmp / "b"))
    files = {name: make(i) for name, (i, make, _v) in READABLE.items()}
    files |= {f"ordinary-{k}": v for k, v in ordinary_mail().items()}
    return _ingest(tmp, config, files)


@pytest.fixture(scope="module")
def unreadable(tmp_path_factory):
    from conftest import DEMO_CONFIG

    tmp = tmp_path_factory.mktemp("unreadable")
    config = tmp / "confere.toml"
    config.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp / 'c.db'}", blobs=tmp / "b"))
    return _ingest(tmp, config, {name: make(i) for name, (i, make, _w) in
                                 NEEDS_A_PERSON.items()})


@pytest.mark.slow
@pytest.mark.parametrize("name", list(READABLE))
def test_genuine_variants_read_right_and_are_ok(readable, name):
    i, _make, verdict = READABLE[name]
    line, facts = readable[name], GENUINE[i]["facts"]
    assert line["status"] == "invoice", line["reason"]
    inv = line["invoice"]
    failed = [c for c in inv["checks"] if c["outcome"] in ("fail", "unknown")]
    assert inv["verdict"] == verdict, failed
    b = inv["boleto"]
    assert b["barcode"] == facts["boleto"]["barcode"]
    assert b["digitable_line"] == facts["boleto"]["digitable_line"]
    assert b["due_date"] == facts["boleto"]["due_date"]
    assert b["pix"]["payload"] == facts["pix"]["payload"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NEEDS_A_PERSON))
def test_what_cannot_be_read_goes_to_a_person_never_block(unreadable, name):
    i, _make, read = NEEDS_A_PERSON[name]
    line, facts = unreadable[name], GENUINE[i]["facts"]
    assert line["status"] == "invoice", line["reason"]
    inv = line["invoice"]
    checks = {c["name"]: c for c in inv["checks"]}
    assert inv["verdict"] == "review"
    assert not [c for c in inv["checks"] if c["outcome"] == "fail"]
    if read == "barcode":  # the barcode from the image; the line derived from it
        assert inv["boleto"]["barcode"] == facts["boleto"]["barcode"]
        assert inv["boleto"]["digitable_line"] == facts["boleto"]["digitable_line"]
        assert inv["boleto"]["pix"]["payload"] == facts["pix"]["payload"]
        assert checks["boleto.barcode_matches_line"]["outcome"] == "unknown"
    else:  # only the Pix: the review says no line or barcode could be read
        assert checks["boleto.check_digits"]["outcome"] == "unknown"
        assert "no line or barcode" in checks["boleto.check_digits"]["detail"]
        assert checks["boleto.amount_matches_nfse"]["outcome"] == "pass"


@pytest.mark.parametrize("name", list(ordinary_mail()))
def test_ordinary_mail_in_odd_shapes_is_ignored(readable, name):
    line = readable[f"ordinary-{name}"]
    assert line["status"] == "ignored", line["reason"]
    assert "not from a configured vendor" in line["reason"]


def test_a_scanned_carne_reads_every_boleto_on_the_page():
    bills = [_bill(i) for i in range(3)]
    doc = parse_boleto_pdf(carne_pdf(bills), date(2026, 6, 1))
    found = {doc.barcode_read} | {b.barcode for b in doc.more}
    assert found == {b.boleto.barcode for b in bills}
