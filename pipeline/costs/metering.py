"""Metering for httpx: wrap the transport of the client that calls Integra Contador.

Every call through the wrapped transport is recorded (type from the path, pedidoDados ids,
HTTP status, time, contratante) and handed to a recorder; the request and the response pass
through untouched. A recorder that fails is logged, never raised into the caller's code.

    client = httpx.Client(transport=MeteringTransport(httpx.HTTPTransport(cert=...),
                                                      StoreRecorder.from_config("confere.toml")))
    # or, on an existing client:  meter_client(client, StoreRecorder.from_config(...))
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from parsers import cnpj as cnpj_rules
from parsers.months import month_of
from pipeline.costs.pricing import is_billable, type_from_path

log = logging.getLogger("confere.metering")


@dataclass(frozen=True)
class MeteredCall:
    """One Integra Contador call as the meter saw it."""

    request_id: str
    occurred_at: datetime
    type: str
    status: int
    contratante: str | None
    id_sistema: str | None
    id_servico: str | None
    path: str

    @property
    def billable(self) -> bool:
        """Billed by SERPRO's rule (200 / 202 / 403, not Apoiar or Monitorar)."""
        return is_billable(self.type, self.status)


Recorder = Callable[[MeteredCall], None]


def _body(request: httpx.Request) -> dict[str, Any]:
    try:
        data = json.loads(request.content or b"{}")
    except (ValueError, httpx.RequestNotRead):
        return {}
    return data if isinstance(data, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def metered_call(request: httpx.Request, response: httpx.Response) -> MeteredCall | None:
    """What to record for a call (None when the path is not an Integra Contador verb)."""
    kind = type_from_path(request.url.path)
    if kind is None:
        return None
    body = _body(request)
    pedido = body.get("pedidoDados") if isinstance(body.get("pedidoDados"), dict) else {}
    contratante = body.get("contratante") if isinstance(body.get("contratante"), dict) else {}
    numero = _text(contratante.get("numero"))
    request_id = (request.headers.get("x-request-id") or response.headers.get("x-request-id")
                  or uuid.uuid4().hex)
    return MeteredCall(
        request_id=request_id, occurred_at=datetime.now(UTC), type=kind,
        status=response.status_code,
        contratante=cnpj_rules.normalize(numero) if numero else None,
        id_sistema=_text(pedido.get("idSistema")), id_servico=_text(pedido.get("idServico")),
        path=request.url.path)


def _record(recorder: Recorder, request: httpx.Request, response: httpx.Response) -> None:
    try:
        call = metered_call(request, response)
        if call is not None:
            recorder(call)
    except Exception:  # metering must never break the caller's API call
        log.exception("confere: could not record the call to %s", request.url)


class MeteringTransport(httpx.BaseTransport):
    """A synchronous transport that records each call and delegates to the wrapped one."""

    def __init__(self, transport: httpx.BaseTransport | None = None,
                 recorder: Recorder | None = None) -> None:
        self.transport = transport or httpx.HTTPTransport()
        self.recorder = recorder or MemoryRecorder()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the wrapped transport, then record (network errors are not billed)."""
        request.read()
        response = self.transport.handle_request(request)
        _record(self.recorder, request, response)
        return response

    def close(self) -> None:
        """Close the wrapped transport."""
        self.transport.close()


class AsyncMeteringTransport(httpx.AsyncBaseTransport):
    """The asyncio twin of MeteringTransport."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None,
                 recorder: Recorder | None = None) -> None:
        self.transport = transport or httpx.AsyncHTTPTransport()
        self.recorder = recorder or MemoryRecorder()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the wrapped transport, then record."""
        await request.aread()
        response = await self.transport.handle_async_request(request)
        _record(self.recorder, request, response)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.transport.aclose()


def meter_client(client: httpx.Client | httpx.AsyncClient, recorder: Recorder) -> Any:
    """Wrap an existing client's transport in place (its TLS and proxy settings are kept)."""
    # httpx keeps the transport it built from the client's options in `_transport`.
    inner = client._transport
    if isinstance(client, httpx.AsyncClient):
        client._transport = AsyncMeteringTransport(inner, recorder)  # type: ignore[arg-type]
    else:
        client._transport = MeteringTransport(inner, recorder)  # type: ignore[arg-type]
    return client


class MemoryRecorder:
    """Keeps calls in a list (tests, or a caller that stores them itself)."""

    def __init__(self) -> None:
        self.calls: list[MeteredCall] = []

    def __call__(self, call: MeteredCall) -> None:
        """Keep the call."""
        self.calls.append(call)


class StoreRecorder:
    """Writes each call to confere's store as a usage event (idempotent by request id)."""

    def __init__(self, engine: Engine, contract: str | None = None,
                 by_contratante: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.contract = contract
        self.by_contratante = by_contratante or {}

    @classmethod
    def from_config(cls, path: str | None = None, contract: str | None = None) -> StoreRecorder:
        """A recorder on the store of a confere.toml (default: $CONFERE_CONFIG, ./confere.toml)."""
        from pipeline.config.settings import load
        from storage import open_store

        config = load(path)
        by_contratante = {c: k.number for k in config.settings.contracts for c in k.contratantes}
        return cls(open_store(config.database_url), contract, by_contratante)

    def __call__(self, call: MeteredCall) -> None:
        """Insert the call as a usage event."""
        from pipeline.costs.usage import insert_events

        contract = self.by_contratante.get(call.contratante or "") or self.contract
        row = (call.request_id, call.occurred_at, month_of(call.occurred_at), contract,
               call.contratante, call.type, call.id_sistema, call.id_servico, call.status,
               call.billable, "meter")
        with self.engine.begin() as conn:
            insert_events(conn, [row])
