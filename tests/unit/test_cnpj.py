"""CNPJ rules of DOMAIN.md section 7, numeric and alphanumeric."""

import pytest

from parsers import cnpj


@pytest.mark.parametrize("value", ["33.683.111/0001-07", "33683111000107", "12ABC34501DE35",
                                   "12.ABC.345/01DE-35"])
def test_valid(value):
    assert cnpj.is_valid(value)


@pytest.mark.parametrize("value", ["33683111000108", "11111111111111", "1234", "12ABC34501DE36"])
def test_invalid(value):
    assert not cnpj.is_valid(value)


def test_same_company_is_same_root():
    assert cnpj.same_company("33.683.111/0001-07", "33683111001282")
    assert not cnpj.same_company("33683111000107", "12345678000195")
