"""The due-date factor's two readings (the 2025 restart): what the email states wins."""

from __future__ import annotations

import re
from datetime import date, timedelta

from parsers import boleto
from parsers.message import parse_message, stated_dates

from conftest import FIXTURES, cases

DUE = date(2026, 4, 20)
FACTOR = (DUE - date(1997, 10, 7)).days - 9000  # written independently of the parser


def test_a_factor_has_two_readings_since_the_restart():
    assert boleto.due_date_candidates(FACTOR)[:2] == [DUE - timedelta(9000), DUE]


def test_the_due_date_the_email_states_wins_over_its_date():
    assert boleto.due_date_from_factor(FACTOR, date(2001, 8, 1)) == DUE - timedelta(9000)
    assert boleto.due_date_from_factor(FACTOR, date(2001, 8, 1), hints=[DUE]) == DUE


def test_a_date_header_set_decades_back_does_not_move_the_boleto():
    assert boleto.due_date_from_factor(FACTOR, date(1980, 1, 1)) == DUE
    assert boleto.due_date_from_factor(FACTOR, date(2199, 1, 1)) == DUE


def test_the_published_vectors_still_read_by_their_email_date():
    assert boleto.due_date_from_factor(4900, date(2011, 3, 1)) == date(2011, 3, 8)
    assert boleto.due_date_from_factor(1016, date(2025, 3, 1)) == date(2025, 3, 10)


def test_stated_dates_in_the_shapes_bodies_use():
    assert stated_dates("Vencimento: 20/04/2026, emitida 2026-03-31 e 1.2.2026") == (
        DUE, date(2026, 3, 31), date(2026, 2, 1))
    assert stated_dates("31/02/2026 99/99/9999") == ()


def _with_date(raw: bytes, header: str) -> bytes:
    return re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: " + header.encode(), raw, count=1)


def test_an_old_date_header_on_a_genuine_bill_keeps_its_due_date():
    case = cases("genuine")[0]
    raw = (FIXTURES / case["file"]).read_bytes()
    for header in ("Mon, 01 Jan 1990 08:00:00 -0300", "Tue, 10 Jul 2001 08:00:00 -0300"):
        m = parse_message(_with_date(raw, header))
        assert m.email.date is not None and m.email.date.year < 2002
        doc = m.first("boleto_pdf")
        assert doc is not None and doc.boleto is not None and doc.boleto.boleto is not None
        assert doc.boleto.boleto.due_date.isoformat() == case["facts"]["boleto"]["due_date"]
