"""The httpx metering transport: every call recorded, nothing else changed for the caller."""

from __future__ import annotations

import asyncio
import json

import httpx
from sqlmodel import Session, select

from pipeline.config import settings as config_mod
from pipeline.costs.metering import (
    AsyncMeteringTransport,
    MemoryRecorder,
    MeteringTransport,
    StoreRecorder,
    meter_client,
)
from pipeline.costs.reconcile import count_usage
from storage import open_store
from storage.usage_models import UsageEvent

BASE = "https://gateway.apiserpro.serpro.gov.br/integra-contador/v1/"
BODY = {"contratante": {"numero": "12345678000195", "tipo": 2},
        "autorPedidoDados": {"numero": "12345678000195", "tipo": 2},
        "contribuinte": {"numero": "11222333000181", "tipo": 2},
        "pedidoDados": {"idSistema": "PGDASD", "idServico": "CONSEXTRATO16",
                        "versaoSistema": "2.0", "dados": "{}"}}


def gateway(request: httpx.Request) -> httpx.Response:
    """A stand-in gateway: the status comes from the X-Answer header of the test."""
    status = int(request.headers.get("x-answer", "200"))
    echo = json.loads(request.content or b"null")
    return httpx.Response(status, json={"status": status, "echo": echo})


def test_every_call_is_recorded_and_passes_through_unchanged():
    rec = MemoryRecorder()
    client = httpx.Client(base_url=BASE, transport=MeteringTransport(
        httpx.MockTransport(gateway), rec))
    r = client.post("Consultar", json=BODY)
    assert r.status_code == 200 and r.json()["echo"] == BODY  # the caller sees the real answer
    client.post("Emitir", json=BODY, headers={"x-answer": "403"})
    client.post("Declarar", json=BODY, headers={"x-answer": "500"})
    client.post("Apoiar", json=BODY)
    client.post("Monitorar", json=BODY, headers={"x-request-id": "mine-1"})
    client.get("https://example.com/other")  # not Integra Contador: not recorded
    calls = rec.calls
    assert [(c.type, c.status, c.billable) for c in calls] == [
        ("consulta", 200, True), ("emissao", 403, True), ("declaracao", 500, False),
        ("apoiar", 200, False), ("monitorar", 200, False)]
    first = calls[0]
    assert (first.contratante, first.id_sistema, first.id_servico) == (
        "12345678000195", "PGDASD", "CONSEXTRATO16")
    assert first.occurred_at.tzinfo is not None
    assert calls[-1].request_id == "mine-1"
    assert len({c.request_id for c in calls}) == 5


def test_a_failing_recorder_never_breaks_the_call(caplog):
    def broken(_call):
        raise RuntimeError("disk full")

    client = httpx.Client(transport=MeteringTransport(httpx.MockTransport(gateway), broken))
    assert client.post(BASE + "Consultar", json=BODY).status_code == 200
    assert "could not record" in caplog.text


def test_meter_client_wraps_an_existing_client_in_place():
    rec = MemoryRecorder()
    client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(gateway))
    meter_client(client, rec)
    client.post("Consultar", json=BODY)
    assert [c.type for c in rec.calls] == ["consulta"]


def test_the_async_transport():
    rec = MemoryRecorder()

    async def go() -> int:
        transport = AsyncMeteringTransport(httpx.MockTransport(gateway), rec)
        async with httpx.AsyncClient(base_url=BASE, transport=transport) as client:
            r = await client.post("Emitir", json=BODY, headers={"x-answer": "202"})
            return r.status_code

    assert asyncio.run(go()) == 202
    assert [(c.type, c.status, c.billable) for c in rec.calls] == [("emissao", 202, True)]


def test_store_recorder_writes_usage_events_the_reconciliation_counts(tmp_path):
    path = tmp_path / "confere.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
                    '[[contracts]]\nvendor = "serpro"\nnumber = "261074"\n'
                    'contratantes = ["12345678000195"]\n', encoding="utf-8")
    recorder = StoreRecorder.from_config(str(path))
    client = httpx.Client(base_url=BASE, transport=MeteringTransport(
        httpx.MockTransport(gateway), recorder))
    client.post("Consultar", json=BODY)
    client.post("Consultar", json=BODY, headers={"x-answer": "403"})
    client.post("Consultar", json=BODY, headers={"x-answer": "500"})
    client.post("Apoiar", json=BODY)
    cfg = config_mod.load(path)
    engine = open_store(cfg.database_url)
    with Session(engine) as s:
        events = s.exec(select(UsageEvent)).all()
        month = events[0].month
        billable, not_billed = count_usage(s, cfg.settings.contracts[0], month)
    assert {e.contract for e in events} == {"261074"} and {e.source for e in events} == {"meter"}
    assert billable == {"consulta": 2} and not_billed == 2
