"""`confere usage import`: CSV and JSON Lines, idempotent, bad rows reported, months local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.costs.reconcile import count_usage
from pipeline.costs.usage import import_file
from storage import open_store
from storage.usage_models import UsageEvent

from conftest import run_cli

HEADER = "timestamp,contract,path,id_sistema,id_servico,status,request_id\n"
CONSULTAR = "/integra-contador/v1/Consultar"


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def make_config(tmp_path: Path, **contract) -> config_mod.Config:
    return config_mod.from_dict({
        "database": {"url": f"sqlite:///{tmp_path / 'confere.db'}"},
        "contracts": [{"vendor": "serpro", "number": "261074",
                       "contratantes": ["12345678000195"], **contract}],
    }, tmp_path, "confere.toml")


def counts(engine, cfg, month):
    with Session(engine) as s:
        return count_usage(s, cfg.settings.contracts[0], month)


def test_csv_import_reports_bad_rows_by_line_and_keeps_the_rest(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    f = write_csv(tmp_path / "u.csv", [
        f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},PGDASD,CONSEXTRATO16,200,r1",   # line 2
        f"2026-10-05T10:00:00,261074,{CONSULTAR},PGDASD,X,200,r2",                     # 3 no offset
        "2026-10-05T10:00:00-03:00,261074,/integra-contador/v1/Nada,PGDASD,X,200,r3",  # 4 path
        f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},PGDASD,X,abc,r4",               # 5 status
        f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},PGDASD,X,200,",                 # 6 no id
        f"2026-10-05T10:00:00-03:00,,{CONSULTAR},PGDASD,X,200,r6",  # 7 no contract
        "2026-10-05T10:00:00Z,261074,/integra-contador/v1/Emitir,PGDASD,X,202,r7",     # 8 ok
    ])
    report = import_file(engine, cfg, f, progress=False)
    assert (report.read, report.imported, report.duplicates) == (7, 2, 0)
    assert [(b.line, b.field) for b in report.bad] == [
        (3, "timestamp"), (4, "path"), (5, "status"), (6, "request_id"), (7, "contract")]
    again = import_file(engine, cfg, f, progress=False)
    assert (again.imported, again.duplicates) == (0, 2)
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(UsageEvent)).one() == 2
        ev = s.exec(select(UsageEvent).where(UsageEvent.request_id == "r1")).one()
    assert (ev.type, ev.id_sistema, ev.id_servico, ev.month) == (
        "consulta", "PGDASD", "CONSEXTRATO16", "2026-10")
    assert ev.occurred_at.hour == 13  # 10:00 in Sao Paulo is 13:00 UTC


def test_billable_rule_403_counted_500_not_apoiar_not(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    f = write_csv(tmp_path / "u.csv", [
        f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},A,B,200,a",
        f"2026-10-05T10:00:01-03:00,261074,{CONSULTAR},A,B,403,b",
        f"2026-10-05T10:00:02-03:00,261074,{CONSULTAR},A,B,500,c",
        f"2026-10-05T10:00:03-03:00,261074,{CONSULTAR},A,B,404,d",
        "2026-10-05T10:00:04-03:00,261074,/integra-contador/v1/Apoiar,A,B,200,e",
        "2026-10-05T10:00:05-03:00,261074,/integra-contador/v1/Monitorar,A,B,200,f",
        "2026-10-05T10:00:06-03:00,261074,/integra-contador/v1/Declarar,A,B,202,g",
    ])
    import_file(engine, cfg, f, progress=False)
    billable, not_billed = counts(engine, cfg, "2026-10")
    assert billable == {"consulta": 2, "declaracao": 1}  # 200 + 403; 202
    assert not_billed == 4  # the 500, the 404, Apoiar, Monitorar


def test_month_edges_in_local_time(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    f = write_csv(tmp_path / "u.csv", [
        f"2026-10-31T23:59:00-03:00,261074,{CONSULTAR},A,B,200,late-october",
        f"2026-11-01T00:01:00-03:00,261074,{CONSULTAR},A,B,200,early-november",
        # 02:59 UTC on 1 November is 23:59 on 31 October in Sao Paulo
        f"2026-11-01T02:59:00Z,261074,{CONSULTAR},A,B,200,utc-but-october",
    ])
    import_file(engine, cfg, f, progress=False)
    assert counts(engine, cfg, "2026-10")[0] == {"consulta": 2}
    assert counts(engine, cfg, "2026-11")[0] == {"consulta": 1}


def test_json_lines_with_contratante_and_type(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    lines = [
        {"timestamp": "2026-10-05T10:00:00-03:00", "contratante": "12.345.678/0001-95",
         "type": "consulta", "id_sistema": "PGDASD", "id_servico": 16, "status": 200,
         "request_id": "j1"},
        {"timestamp": "2026-10-05T10:00:00-03:00", "contratante": "12345678000195",
         "type": "Emissão", "status": 403, "request_id": "j2"},
        "not json",
        {"timestamp": "2026-10-05T10:00:00-03:00", "contract": "261074", "type": "nada",
         "status": 200, "request_id": "j4"},
    ]
    f = tmp_path / "u.jsonl"
    f.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
                 encoding="utf-8")
    report = import_file(engine, cfg, f, progress=False)
    assert report.imported == 2
    assert [(b.line, b.field) for b in report.bad] == [(3, "line"), (4, "type")]
    assert counts(engine, cfg, "2026-10")[0] == {"consulta": 1, "emissao": 1}
    with Session(engine) as s:
        ev = s.exec(select(UsageEvent).where(UsageEvent.request_id == "j1")).one()
    assert (ev.contract, ev.contratante, ev.id_servico) == ("261074", "12345678000195", "16")


@pytest.mark.slow
def test_the_command_line_imports_and_names_file_line_and_field(tmp_path, demo_config):
    f = write_csv(tmp_path / "u.csv", [
        f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},A,B,200,c1",
        f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},A,B,2xx,c2",
    ])
    proc = run_cli("usage", "import", str(f), "--config", str(demo_config), "--json")
    out = json.loads(proc.stdout)
    assert (out["read"], out["imported"], out["duplicates"]) == (2, 1, 0)
    assert out["bad"] == [{"line": 3, "field": "status", "problem": "'2xx' is not an HTTP status"}]
    assert f"{f}:3: status:" in proc.stderr
    missing = run_cli("usage", "import", str(tmp_path / "nope.csv"), "--config",
                      str(demo_config), check=False)
    assert missing.returncode != 0 and "nope.csv: no such file" in missing.stderr
    (tmp_path / "bad.csv").write_text("when,what\n1,2\n", encoding="utf-8")
    header = run_cli("usage", "import", str(tmp_path / "bad.csv"), "--config", str(demo_config),
                     check=False)
    assert header.returncode != 0 and "bad.csv: line 1: the header lacks" in header.stderr


@pytest.fixture
def pg_engine(postgres_url):
    engine = open_store(postgres_url)
    yield engine
    with engine.begin() as conn:
        for table in ("reconciliations", "usage_events", "metric_declarations"):
            conn.exec_driver_sql(f"DELETE FROM {table}")


def test_import_and_reconcile_on_postgresql(tmp_path, postgres_url, pg_engine):
    from pipeline.costs.reconcile import reconcile_month

    cfg = config_mod.from_dict({"database": {"url": postgres_url}, "contracts": [
        {"vendor": "serpro", "number": "261074", "pricing_mode": "progressive"}]}, tmp_path)
    rows = [f"2026-10-{1 + i % 28:02d}T12:00:00-03:00,261074,{CONSULTAR},A,B,200,pg-{i}"
            for i in range(301)]
    rows.append(f"2026-10-05T12:00:00-03:00,261074,{CONSULTAR},A,B,500,pg-500")
    f = write_csv(tmp_path / "u.csv", rows)
    report = import_file(pg_engine, cfg, f, progress=False, batch=100)
    assert (report.imported, report.duplicates) == (302, 0)
    assert import_file(pg_engine, cfg, f, progress=False).duplicates == 302
    [result] = reconcile_month(pg_engine, cfg, "2026-10")
    # 301 consultas, progressive: 300*0.24 + 1*0.21 = 72.00 + 0.21 = 72.21
    assert result.to_json()["expected_amount"] == "72.21"
    assert result.not_billed == 1


def test_two_processes_keep_line_numbers_and_counts(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    rows = [f"2026-10-05T10:00:00-03:00,261074,{CONSULTAR},A,B,200,p-{i}" for i in range(2000)]
    for i in (10, 999, 1500, 1999):  # file lines 12, 1001, 1502, 2001
        rows[i] = rows[i].replace(",200,", ",xx,")
    f = write_csv(tmp_path / "u.csv", rows)
    report = import_file(engine, cfg, f, progress=False, batch=100, workers=2)
    assert (report.read, report.imported) == (2000, 1996)
    assert [b.line for b in report.bad] == [12, 1001, 1502, 2001]
    assert import_file(engine, cfg, f, progress=False, workers=2).duplicates == 1996
    assert counts(engine, cfg, "2026-10")[0] == {"consulta": 1996}


def test_quoted_csv_fields_go_through_the_csv_module(tmp_path):
    cfg = make_config(tmp_path)
    engine = open_store(cfg.database_url)
    f = write_csv(tmp_path / "u.csv", [
        f'2026-10-05T10:00:00-03:00,261074,{CONSULTAR},"PGDASD, v2",B,200,q1',
        f'2026-10-05T10:00:00-03:00,261074,{CONSULTAR},A,B,xx,q2',
    ])
    report = import_file(engine, cfg, f, progress=False, workers=2)
    assert report.imported == 1 and [b.line for b in report.bad] == [3]
    with Session(engine) as s:
        assert s.exec(select(UsageEvent.id_sistema)).one() == "PGDASD, v2"
