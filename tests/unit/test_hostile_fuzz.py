"""Generated hostile input through the parsers: a ParseError or a result, never a crash."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import ParseError, parse_boleto_code, parse_email, parse_nfse, parse_pix
from parsers.body import extract
from parsers.message import parse_message
from pipeline.config.profiles import load_profiles

from conftest import FIXTURES, cases

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SERPRO = load_profiles({})["serpro"].body
GENUINE_XML = (FIXTURES / "documents" / f"{cases('genuine')[0]['case']}.nfse.xml").read_bytes()
GENUINE_EML = (FIXTURES / cases("genuine")[0]["file"]).read_bytes()


@FAST
@given(st.text(alphabet="0123456789 .-8", max_size=60))
def test_random_lines(text):
    with contextlib.suppress(ParseError):
        parse_boleto_code(text)


@FAST
@given(st.text(max_size=300))
def test_random_br_codes(text):
    with contextlib.suppress(ParseError):
        parse_pix("000201" + text)


@FAST
@given(st.binary(max_size=2000))
def test_random_xml_bytes(data):
    with contextlib.suppress(ParseError):
        parse_nfse(b"<" + data)


@FAST
@given(st.integers(min_value=0, max_value=len(GENUINE_XML) - 1), st.binary(max_size=20))
def test_mutated_nfse(pos, junk):
    with contextlib.suppress(ParseError):
        parse_nfse(GENUINE_XML[:pos] + junk + GENUINE_XML[pos + len(junk):])


@FAST
@given(st.text(max_size=500))
def test_random_bodies(text):
    extract(text, SERPRO)


_headers = st.lists(st.sampled_from([
    b"Content-Type: multipart/mixed; boundary=b", b"Content-Type: text/plain; charset=x-nope",
    b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Disposition: attachment; filename*=utf-8''%E9%FF.pdf", b"From: =?x?q?zz?=",
    b"Subject: =?utf-8?b?////?=", b"Content-Type: message/rfc822", b"Date: yesterday",
]), max_size=5)


@FAST
@given(_headers, st.lists(st.binary(max_size=200), max_size=4))
def test_random_mime_trees(headers, parts):
    body = b"".join(b"--b\r\n" + h + b"\r\n\r\n" + p + b"\r\n" for h, p in zip(
        headers, parts, strict=False))
    raw = b"\r\n".join(headers) + b"\r\n\r\n" + body + b"--b--\r\n"
    with contextlib.suppress(ParseError):
        parse_email(raw)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=len(GENUINE_EML) - 1), st.binary(min_size=1,
                                                                           max_size=64))
def test_mutated_bill_ends_in_an_outcome(pos, junk):
    """A damaged genuine email is read with problems listed, never an exception."""
    raw = GENUINE_EML[:pos] + junk + GENUINE_EML[pos + len(junk):]
    with contextlib.suppress(ParseError):
        parse_message(raw)
