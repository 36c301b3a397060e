"""Amount parsing (parsers/money.py): every way a bill, an ECF file or a person writes reais."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.errors import ParseError
from parsers.money import parse_amount, parse_money


@pytest.mark.parametrize(("text", "value"), [
    ("1234.56", "1234.56"),          # XML, machine files
    ("1234,56", "1234.56"),          # ECF, a careless XML
    ("1.234,56", "1234.56"),         # a PDF, a person in Brazil
    ("1,234.56", "1234.56"),         # a person elsewhere
    ("12.000.000,00", "12000000.00"),
    ("12,000,000.00", "12000000.00"),
    ("12.000.000", "12000000"),
    ("1,234", "1.234"),              # a lone comma is the decimal point
    ("2.5000", "2.5000"),            # ABRASF writes four places
    (" -10,00 ", "-10.00"),
    ("1 234,56", "1234.56"),
])
def test_the_usual_ways_of_writing_an_amount(text, value):
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "1e5", "NaN", "Infinity", "R$ 10,00", "1.2.3,4,5",
                                  "--1", "10,", "1234.567.890"])
def test_what_is_not_an_amount_is_refused(text):
    with pytest.raises(ParseError):
        parse_amount(text)


def test_places_refuses_fractions_of_a_centavo():
    assert parse_amount("10,25", places=2) == Decimal("10.25")
    with pytest.raises(ParseError):
        parse_amount("1.234", places=2)  # one separator: a decimal point, three places


def test_a_bill_amount_has_two_places_and_a_plausible_size():
    assert parse_money("2.5000") == Decimal("2.50")
    assert str(parse_money("1.088,81")) == "1088.81"
    with pytest.raises(ParseError):
        parse_money("1000000000000.00")
    with pytest.raises(ParseError):
        parse_money("9" * 40)  # too large to quantize: refused, not an arithmetic error


@given(st.decimals(min_value=0, max_value=10**11, places=2, allow_nan=False))
def test_brazilian_and_english_grouping_read_back_the_same(value):
    english = f"{value:,.2f}"
    brazilian = english.replace(",", "_").replace(".", ",").replace("_", ".")
    assert parse_amount(english) == parse_amount(brazilian) == value
