"""Body field extraction over the wordings of DOMAIN.md section 2."""

from datetime import date

import pytest

from parsers.body import extract
from pipeline.config.profiles import load_profiles

SERPRO = load_profiles({})["serpro"].body


@pytest.mark.parametrize(("text", "contract", "month", "due"), [
    ("Contrato: 261074\nMês de referência: 10/2026\nVencimento: 20/11/2026",
     "261074", "2026-10", date(2026, 11, 20)),
    ("Número do contrato: 261074 Competência: outubro/2026 Data de vencimento: 20.11.2026",
     "261074", "2026-10", date(2026, 11, 20)),
    ("CONTRATO Nº 261.074\nMês de Referência: Outubro de 2026\nVencimento: 20 de novembro de 2026",
     "261074", "2026-10", date(2026, 11, 20)),
    ("Contrato \t 261074 \t \nCompetência \t 09/2026 \t Vencimento \t 20/10/2026",
     "261074", "2026-09", date(2026, 10, 20)),
])
def test_wordings(text, contract, month, due):
    f = extract(text, SERPRO)
    assert (f.contract_number, f.reference_month, f.due_date) == (contract, month, due)


def test_missing_fields_are_none():
    f = extract("Olá, segue nossa newsletter.", SERPRO)
    assert (f.contract_number, f.reference_month, f.due_date) == (None, None, None)


def test_user_pattern_from_config_adds_a_wording():
    profile = load_profiles({"serpro": {"body": {"due_date": [r"pagar ate\s*{date}"]}}})["serpro"]
    assert extract("Favor pagar até 05/12/2026", profile.body).due_date == date(2026, 12, 5)


def test_impossible_date_is_none():
    assert extract("Vencimento: 31/02/2026", SERPRO).due_date is None
