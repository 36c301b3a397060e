"""Boleto math against the verified vectors of DOMAIN.md section 5."""

from datetime import date
from decimal import Decimal

import pytest

from parsers import boleto
from parsers.errors import NotABoletoError, ParseError

VECTORS = [
    ("00190.00009 07777.777009 00087.654182 6 49000000295295",
     "00196490000002952950000007777777000008765418", "001", date(2011, 3, 8),
     Decimal("2952.95"), date(2011, 3, 1)),
    ("07790.00116 12064.449908 08159.365561 7 90020000015130",
     "07797900200000151300001112064449900815936556", "077", date(2022, 5, 31),
     Decimal("151.30"), date(2022, 5, 1)),
    ("34191.09123 34567.812341 56789.012301 9 10160000123456",
     "34199101600001234561091234567812345678901230", "341", date(2025, 3, 10),
     Decimal("1234.56"), date(2025, 3, 1)),
]


@pytest.mark.parametrize(("line", "barcode", "bank", "due", "amount", "ref"), VECTORS)
def test_verified_vectors(line, barcode, bank, due, amount, ref):
    b = boleto.parse(line, ref)
    assert b.barcode == barcode
    assert boleto.line_from_barcode(barcode) == boleto.digits(line)
    assert (b.bank_code, b.due_date, b.amount) == (bank, due, amount)
    assert b.check_digits_ok and b.check_digit_problems == ()


def test_rollover_factor_1016_is_2025_not_1997():
    assert boleto.due_date_from_factor(1016, date(2026, 11, 23)) == date(2025, 3, 10)
    assert boleto.due_date_from_factor(9999, date(2025, 1, 1)) == date(2025, 2, 21)
    assert boleto.due_date_from_factor(1000, date(2025, 2, 1)) == date(2025, 2, 22)
    assert boleto.due_factor_for(date(2025, 2, 22)) == 1000


def test_factor_zero_means_no_due_date():
    assert boleto.due_date_from_factor(0) is None


@pytest.mark.parametrize("position", [3, 15, 25, 40])
def test_any_changed_digit_breaks_a_check_digit(position):
    line = boleto.digits(VECTORS[0][0])
    changed = line[:position] + str((int(line[position]) + 1) % 10) + line[position + 1:]
    parsed = boleto.parse(changed, date(2011, 3, 1))
    assert not parsed.check_digits_ok
    assert parsed.check_digit_problems


def test_general_check_digit_rule_maps_0_10_11_to_1():
    # Build bodies until each special remainder shows up; the rule must give 1.
    for body in ("0019" + "0" * 39, "1119" + "1" * 39):
        dv = boleto.mod11_general(body)
        assert 1 <= dv <= 9


def test_arrecadacao_is_recognised_not_parsed():
    with pytest.raises(NotABoletoError):
        boleto.parse("8" + "4" * 47)


def test_wrong_length_is_an_error():
    with pytest.raises(ParseError):
        boleto.parse("123")


def test_build_barcode_round_trip():
    bc = boleto.build_barcode("001", date(2026, 11, 20), Decimal("1234.56"), "0" * 25)
    b = boleto.parse(bc, date(2026, 11, 1))
    assert b.due_date == date(2026, 11, 20) and b.amount == Decimal("1234.56")
    assert boleto.is_valid_barcode(bc)
