"""Usage files as a pt-BR spreadsheet saves them: `;`, a BOM, dd/mm/aaaa hh:mm, Portuguese
headers; a wrong separator named as such; rows of a contract nobody configured reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.costs.usage import import_file
from storage import open_store
from storage.usage_models import UsageEvent

CONSULTAR = "/integra-contador/v1/Consultar"


def make_config(tmp_path: Path) -> config_mod.Config:
    return config_mod.from_dict({
        "database": {"url": f"sqlite:///{tmp_path / 'confere.db'}"},
        "contracts": [{"vendor": "serpro", "number": "261074",
                       "contratantes": ["12345678000195"]}],
    }, tmp_path, "confere.toml")


def write(path: Path, text: str, *, bom: bool = True) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("quoted", [False, True])
def test_a_spreadsheet_saved_in_portuguese_is_read(tmp_path, quoted):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    q = '"' if quoted else ""
    f = write(tmp_path / "consumo.csv", (
        "Data;Contrato;Caminho;id_sistema;id_servico;Situação;ID\r\n"
        f"05/10/2026 10:00;261074;{q}{CONSULTAR}{q};PGDASD;CONSEXTRATO16;200;r1\r\n"
        f"31/10/2026 22:30;261074;{CONSULTAR};PGDASD;CONSEXTRATO16;200;r2\r\n"
        f"01/11/2026 00:10:05;999999;{CONSULTAR};PGDASD;CONSEXTRATO16;200;r3\r\n"))
    report = import_file(engine, cfg, f, progress=False)
    assert (report.read, report.imported) == (3, 2)
    # The unknown contract is reported on its line, by field, with the configured ones.
    [bad] = report.bad
    assert (bad.line, bad.field) == (4, "contract")
    assert "'999999' is not a configured contract (configured: 261074)" in bad.problem
    with Session(engine) as s:
        r1 = s.exec(select(UsageEvent).where(UsageEvent.request_id == "r1")).one()
        r2 = s.exec(select(UsageEvent).where(UsageEvent.request_id == "r2")).one()
    assert r1.occurred_at.hour == 13  # 10:00 in São Paulo is 13:00 UTC
    # 22:30 on 31/10 in São Paulo is already November in UTC, but October's usage.
    assert (r2.occurred_at.day, r2.month) == (1, "2026-10")


def test_a_wrong_separator_is_named(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    f = write(tmp_path / "x.csv", "quando|o que\n05/10/2026 10:00|x\n", bom=False)
    with pytest.raises(ValueError, match=r"the separator looks like '\|'"):
        import_file(engine, cfg, f, progress=False)


def test_a_date_neither_iso_nor_brazilian_is_refused_by_line(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    f = write(tmp_path / "u.csv", "data;contrato;caminho;situacao;id\n"
              f"10/05/26;261074;{CONSULTAR};200;r1\n")
    report = import_file(engine, cfg, f, progress=False)
    [bad] = report.bad
    assert (bad.line, bad.field) == (2, "timestamp")
    assert "neither ISO 8601 nor dd/mm/aaaa hh:mm" in bad.problem
