"""Truncated and hostile-structure PDFs inside a SERPRO bill, through the real `confere ingest`.

Each email is a genuine sample bill whose boleto (or NFS-e) PDF was swapped for a damaged one.
Every one must end in a stored outcome (quarantined, or an invoice whose checks on that PDF are
unknown or failed) with its raw bytes kept, and the run must finish within the parse limit.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine, select

from storage import BlobStore, Message

from conftest import DEMO_CONFIG, FIXTURES, ROOT, json_lines

GENUINE = FIXTURES / "mailbox" / "genuine-01-abrasf-bare.eml"
BOLETO = FIXTURES / "documents" / "genuine-01-abrasf-bare.boleto.pdf"
PARSE_SECONDS = 20


def pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF file from numbered object bodies (1-based), with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, xref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    """A stream object body."""
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


# The genuine bill's printed line: the PDFs are taken for boletos and read to the barcode.
LINE = b"00190.00009 02934.471828 86954.453170 4 14220001073804"
TEXT = stream(b"BT /F1 12 Tf 72 720 Td (Banco do Brasil S.A. 001-9 " + LINE + b") Tj ET")
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def one_page(media: bytes = b"[0 0 595 842]", content: bytes = TEXT,
             resources: bytes = b"<< /Font << /F1 4 0 R >> >>", extra: list[bytes] = ()) -> bytes:
    """Catalog, pages, one page, its content, a font and any extra objects (6 onwards)."""
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox " + media + b" /Resources " + resources
                + b" /Contents 5 0 R >>", FONT, content, *extra])


def deeply_nested() -> bytes:
    """Arrays and dictionaries nested 200,000 deep, in the page's resources and in content."""
    depth = 200_000
    arrays = b"[" * depth + b"1" + b"]" * depth
    dicts = b"<< /A " * depth + b"1" + b" >>" * depth
    return one_page(resources=b"<< /Font << /F1 4 0 R >> /X 6 0 R /Y 7 0 R >>",
                    content=stream(b"q " * 50_000 + b"BT /F1 12 Tf 72 720 Td (" + LINE + b") Tj ET"
                                   + b" Q" * 50_000),
                    extra=[arrays, dicts])


def huge_page_count() -> bytes:
    """A page tree that claims a million pages, 200,000 kids all pointing at one page."""
    kids = b"[" + b"3 0 R " * 200_000 + b"]"
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids " + kids + b" /Count 1000000 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>", FONT, TEXT])


def wide_page() -> bytes:
    """One page 20,000 pt wide (and as tall: the biggest PDF allows is 14,400 user units)."""
    return one_page(media=b"[0 0 20000 20000]")


def image_bomb() -> bytes:
    """A 40,000 x 40,000 gray image (1.6 GB decoded) that deflates to about 1.5 MB."""
    side = 40_000
    z = zlib.compressobj(9)
    row_block = bytes(side * 1000)
    data = b"".join(z.compress(row_block) for _ in range(side // 1000)) + z.flush()
    image = stream(data, b"/Type /XObject /Subtype /Image /Width %d /Height %d "
                         b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"
                   % (side, side))
    return one_page(resources=b"<< /Font << /F1 4 0 R >> /XObject << /Im1 6 0 R >> >>",
                    content=stream(b"q 595 0 0 842 0 0 cm /Im1 Do Q BT /F1 12 Tf 72 720 Td (" + LINE
                                   + b") Tj ET"), extra=[image])


def hostile_pdfs() -> dict[str, bytes]:
    """Name -> PDF bytes: truncations of the genuine boleto and the hostile structures."""
    genuine = BOLETO.read_bytes()
    out = {f"truncated-{pct}": genuine[:len(genuine) * pct // 100] for pct in (5, 40, 75, 99)}
    out["truncated-header-only"] = genuine[:16]
    out.update({"deeply-nested": deeply_nested(), "huge-page-count": huge_page_count(),
                "wide-page": wide_page(), "image-bomb": image_bomb()})
    return out


def with_pdf(raw: bytes, which: str, data: bytes) -> bytes:
    """The genuine email with the attachment whose filename mentions `which` replaced."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in msg.walk():
        name = (part.get_filename() or "").lower()
        if name.endswith(".pdf") and which in name:
            part.set_payload(base64.encodebytes(data).decode("ascii"))
            del part["Content-Transfer-Encoding"]
            part["Content-Transfer-Encoding"] = "base64"
            return msg.as_bytes()
    raise AssertionError(f"no {which} PDF in {GENUINE.name}")


def _config(tmp: Path, name: str) -> Path:
    """A demo config on a store of its own (the swapped twins share one NFS-e number)."""
    cfg = tmp / f"{name}.toml"
    cfg.write_text(DEMO_CONFIG.format(db=f"sqlite:///{tmp / name}.db", blobs=tmp / "blobs")
                   .replace("parse_seconds = 30", f"parse_seconds = {PARSE_SECONDS}\nworkers = 1"))
    return cfg


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, dict[str, bytes], dict[str, dict]]:
    """Every hostile PDF as the boleto, the worst ones as the NFS-e PDF, each ingested alone."""
    tmp = tmp_path_factory.mktemp("hostile-pdfs")
    raw = GENUINE.read_bytes()
    emails: dict[str, bytes] = {}
    for name, data in hostile_pdfs().items():
        emails[f"boleto-{name}"] = with_pdf(raw, "boleto", data)
        if name in ("truncated-40", "deeply-nested", "wide-page", "image-bomb"):
            emails[f"nfse-{name}"] = with_pdf(raw, "nfse", data)
    procs: dict[str, subprocess.Popen] = {}
    lines: dict[str, dict] = {}
    for name, data in emails.items():  # three at a time: each is one `confere ingest`
        (tmp / f"{name}.eml").write_bytes(data)
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", "from pipeline.cli.main import run; run()", "ingest", "--json",
             "--config", str(_config(tmp, name)), str(tmp / f"{name}.eml")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while sum(p.poll() is None for p in procs.values()) >= 3:
            time.sleep(0.05)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=PARSE_SECONDS * 3 + 60)
        assert proc.returncode == 0, (name, err)
        [lines[name]] = json_lines(out)
    return tmp, emails, lines


@pytest.mark.slow
def test_every_hostile_pdf_ends_in_a_stored_outcome(ingested):
    tmp, raws, lines = ingested
    blobs = BlobStore(tmp / "blobs")
    outcomes = {}
    for case, line in sorted(lines.items()):
        status = line["status"]
        digest = hashlib.sha256(raws[case]).hexdigest()
        assert line["message"]["sha256"] == digest, case
        with Session(create_engine(f"sqlite:///{tmp / case}.db")) as s:
            [row] = s.exec(select(Message)).all()
        assert row.status == status and blobs.get(digest) == raws[case], case
        assert status in ("quarantined", "invoice"), (case, line)
        if status == "quarantined":
            assert line["reason"] and row.reason == line["reason"], case
            assert "longer than" not in line["reason"], case  # each one finished in its time
        outcomes[case] = line["reason"] or f"invoice, {line['invoice']['verdict']}"
    print("\n" + "\n".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))


@pytest.mark.slow
def test_a_damaged_boleto_is_never_judged_ok(ingested):
    """The NFS-e PDF is a copy of the XML's facts: without it the XML still decides, so only
    a damaged boleto must keep a bill from `ok`."""
    _tmp, _raws, lines = ingested
    for case, line in lines.items():
        if line["status"] != "invoice" or not case.startswith("boleto-"):
            continue
        inv = line["invoice"]
        outcome = {c["name"]: c["outcome"] for c in inv["checks"]}
        assert inv["verdict"] == "review", (case, inv["checks"])
        assert outcome["boleto.barcode_matches_line"] == "unknown", (case, inv["checks"])
        assert inv["boleto"]["barcode_read"] is False, case
