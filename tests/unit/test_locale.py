"""People-facing formats (Babel, pt-BR) and the gettext catalogue that carries the words."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from pipeline.locale import format as fmt
from pipeline.locale.translate import LOCALE_DIR, catalogue


def test_money_numbers_dates_months_and_times_read_the_brazilian_way():
    assert fmt.money(123456) == "R$ 1.234,56"  # integer centavos
    assert fmt.money(Decimal("9814.31"), cents=False) == "R$ 9.814,31"
    assert fmt.money("12000000.00", cents=False) == "R$ 12.000.000,00"
    assert fmt.money(-5000, sign=True) == "-R$ 50,00"
    assert fmt.money(5000, sign=True) == "+R$ 50,00"
    assert fmt.money(None) == "-"
    assert fmt.number(1_000_000) == "1.000.000"
    assert fmt.number(Decimal("0.5"), places=2) == "0,50"
    assert fmt.decimal_comma(123456789) == "1234567,89"  # a spreadsheet's number: no grouping
    assert fmt.day(date(2026, 11, 20)) == "20/11/2026"
    assert fmt.day("2026-11-20") == "20/11/2026"
    # 02:30 UTC on the 21st is still the 20th in São Paulo.
    assert fmt.day(datetime(2026, 11, 21, 2, 30, tzinfo=UTC)) == "20/11/2026"
    assert fmt.month("2026-10") == "10/2026"
    assert fmt.month_words("2026-10") == "outubro de 2026"
    assert fmt.month_words("2026-03") == "março de 2026"
    assert fmt.month_short("2026-03") == "mar/26"
    assert fmt.moment(datetime(2026, 11, 20, 15, 0, tzinfo=UTC)) == \
        "20/11/2026 12:00 (horário de Brasília)"


def test_the_digitable_line_is_printed_in_its_groups():
    line = "00190000090293447182886954453170414220001073804"
    assert fmt.digitable_line(line) == "00190.00009 02934.471828 86954.453170 4 14220001073804"
    assert fmt.digitable_line("12345") == "12345"  # not a boleto line: left alone
    assert fmt.digitable_line(None) == "-"


def test_yes_accepts_portuguese_answers():
    for answer in ("s", "S", "sim", "Sim ", "y", "yes"):
        assert fmt.yes(answer)
    for answer in ("", "n", "não", "nao", "talvez", None):
        assert not fmt.yes(answer)


def test_the_pt_br_catalogue_translates_everything_and_its_mo_is_compiled_from_its_po():
    po_path = LOCALE_DIR / "pt_BR" / "LC_MESSAGES" / "confere.po"
    with po_path.open("rb") as f:
        po = read_po(f)
    untranslated = [m.id for m in po if m.id and not m.string]
    assert untranslated == []
    with Path(po_path.with_suffix(".mo")).open("rb") as f:
        mo = read_mo(f)
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}, \
        "run: pybabel compile -d pipeline/locale -D confere"
    assert catalogue().gettext("ok to pay") == "ok para pagar"
    # Another language is a catalogue away: without one, the English message id shows.
    assert catalogue("de").gettext("ok to pay") == "ok to pay"


def test_every_marked_string_in_the_code_is_in_the_catalogue():
    from babel.messages.extract import extract_from_dir

    root = Path(__file__).resolve().parents[2]
    keywords = {"_": None, "N_": None, "ngettext": (1, 2)}
    found = {msg if isinstance(msg, str) else msg[0]
             for _file, _line, msg, _comments, _context in extract_from_dir(
                 root / "pipeline", method_map=[("**.py", "python")], keywords=keywords)}
    with (LOCALE_DIR / "pt_BR" / "LC_MESSAGES" / "confere.po").open("rb") as f:
        known = {m.id for m in read_po(f) if m.id}
    assert found - known == set(), "run pybabel extract/update (README, Translations)"
