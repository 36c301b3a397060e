"""Properties: no QR content beside a genuine Pix, and no shape of a genuine From header, makes
a genuine bill fail a forgery-grade check."""

from __future__ import annotations

import dataclasses
from email.utils import formataddr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.variants import with_header
from parsers.boleto_pdf import read_pix
from parsers.message import ParsedMessage, parse_message
from pipeline.checks.offline import BillContext, offline_checks
from pipeline.checks.vocabulary import FORGERY_GRADE
from pipeline.config.profiles import load_profiles

from conftest import FIXTURES, cases

SOME = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CASE = cases("genuine")[0]
RAW = (FIXTURES / CASE["file"]).read_bytes()
GENUINE = parse_message(RAW)
CONTEXT = BillContext(vendor=load_profiles({})["serpro"], company_cnpjs=("12345678000195",),
                      company_domains=("example.com.br",), contracts=("261074",),
                      banks_seen=frozenset({"001"}))


def _forgery_grade_failures(m: ParsedMessage) -> list[str]:
    from parsers.body import extract

    fields = extract(m.effective.text, CONTEXT.vendor.body)
    return [f"{c.name}: {c.detail}" for c in offline_checks(m, fields, CONTEXT)
            if c.outcome == "fail" and c.name in FORGERY_GRADE]


def _with_qr(m: ParsedMessage, payloads: list[str]) -> ParsedMessage:
    """The genuine message as if its boleto page carried these QR texts."""
    doc = m.first("boleto_pdf")
    assert doc is not None and doc.boleto is not None
    pix, error = read_pix(payloads)
    page = dataclasses.replace(doc.boleto, pix=pix, pix_error=error,
                               other_qr=tuple(p for p in payloads if not p.startswith("000201")))
    docs = tuple(dataclasses.replace(d, boleto=page) if d is doc else d for d in m.documents)
    return dataclasses.replace(m, documents=docs)


def test_the_genuine_bill_passes_as_it_is():
    assert _forgery_grade_failures(GENUINE) == []


QR_TEXT = st.one_of(st.text(max_size=200), st.text(max_size=200).map(lambda t: "000201" + t),
                    st.from_regex(r"https?://[a-z.]{1,30}/[ -~]{0,60}", fullmatch=True))


@SOME
@given(st.lists(QR_TEXT, max_size=3), st.integers(min_value=0, max_value=3))
def test_no_qr_beside_the_genuine_pix_makes_it_fail(others, where):
    genuine = CASE["facts"]["pix"]["payload"]
    payloads = list(others)
    payloads.insert(min(where, len(payloads)), genuine)
    assert _forgery_grade_failures(_with_qr(GENUINE, payloads)) == []


@SOME
@given(st.lists(QR_TEXT, max_size=3))
def test_a_qr_that_is_not_a_good_pix_never_fails_alone(others):
    # Without the genuine Pix, another QR is either no Pix (skipped) or an unreadable BR Code
    # (unknown); only a BR Code that reads can fail, and then on its CRC, amount or receiver.
    m = _with_qr(GENUINE, [o for o in others if not o.startswith("000201")])
    assert _forgery_grade_failures(m) == []


NAME = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=60)


@pytest.mark.slow
@SOME
@given(NAME, st.lists(st.integers(min_value=0, max_value=200), max_size=4),
       st.sampled_from(["faturamento@serpro.gov.br", "Faturamento@SERPRO.gov.br",
                        "nfe@cobranca.serpro.gov.br"]))
def test_no_from_header_shape_makes_the_genuine_sender_fail(name, folds, address):
    value = formataddr((name, address), "utf-8") if name.strip() else address
    for pos in sorted(set(folds), reverse=True):  # fold before any white space
        spaces = [i for i, ch in enumerate(value) if ch == " " and value[i - 1] != "\n"]
        if spaces:
            i = spaces[pos % len(spaces)]
            value = value[:i] + "\r\n" + value[i:]
    m = parse_message(with_header(RAW, "From", value))
    assert m.effective.from_address == address.lower()
    assert _forgery_grade_failures(m) == []
