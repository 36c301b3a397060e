"""The "Custos" page: this month's forecast from metered usage, against the budget."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sqlmodel import Session
from starlette.testclient import TestClient

from harness.desk import PASSWORD


def test_the_forecast_and_the_budget(tmp_path):
    from pipeline.config.settings import from_dict
    from pipeline.costs.usage import insert_events
    from pipeline.desk.users import add_user
    from pipeline.web.app import create_app
    from storage import open_store

    config = from_dict({
        "database": {"url": f"sqlite:///{tmp_path / 'confere.db'}"},
        "contracts": [{"vendor": "serpro", "number": "261074", "budget": "60.00"}],
    }, tmp_path)
    engine = open_store(config.database_url)
    day = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    with engine.begin() as conn:  # 151 billable consultas on 10/11/2026
        insert_events(conn, [(f"e-{i}", day, "2026-11", "261074", None, "consulta", "S", "X",
                              200, True, "import") for i in range(151)])
    with Session(engine) as s:
        add_user(s, "viewer", "viewer", PASSWORD)
        s.commit()
    app = create_app(config, engine, today=lambda: date(2026, 11, 16), secret="k" * 40)
    client = TestClient(app)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf": token})
    page = client.get("/custos").text
    text = re.sub(r"<[^>]+>", "", page)
    # so far 151 x R$ 0,24; half the month gone, 295 projected (band 1, up to 300) pass 60,00
    assert "Até agora: R$ 36,24" in text
    assert "orçamento: R$ 60,00 acima do orçamento" in text
    row = re.search(r"<tr><td>consulta</td>(.*?)</tr>", page, re.S).group(1)
    cells = re.findall(r">([^<]*)</td>", row)
    assert cells[0] == "151" and cells[1] == "295" and cells[2] == "1"
    assert cells[3] == "R$ 0,24" and cells[4] == "R$ 70,80"
    api = client.get("/api/v1/costs").json()
    assert api["forecasts"][0]["amount_so_far"] == "36.24"
    assert api["forecasts"][0]["over_budget"] is True
