"""The JSON API under /api/v1: the desk's data and decisions for scripts, with bearer tokens."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from pipeline.contract import invoice_json
from pipeline.web import actions, queries
from pipeline.web.documents import document_response
from pipeline.web.security import allow, db

router = APIRouter(prefix="/api/v1", tags=["confere"])


class Decision(BaseModel):
    """A decision's reason (required by approve, reject, undo and override)."""

    reason: str = Field(default="", max_length=2000)


class Payment(BaseModel):
    """When the bill was paid (default: today)."""

    paid_on: date | None = None
    reason: str = Field(default="", max_length=2000)


class Override(BaseModel):
    """An admin's override of a `block` verdict: the reason and the second confirmation."""

    reason: str = Field(max_length=2000)
    confirm: Literal[True]


def _audit_json(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in entry.items() if k not in ("words", "change")}


@router.get("/invoices")
def list_invoices(request: Request, due: Literal["overdue", "week", "later", "none"] | None = None,
                  verdict: Literal["ok", "review", "block"] | None = None,
                  vendor: str | None = None, month: str | None = None, paid: bool = False,
                  page: int = 1, page_size: int = 50, _actor=allow("read"),
                  s: Session = Depends(db)) -> dict[str, Any]:
    """Bills by due date (open ones unless paid=true), paginated, with per-bucket counts."""
    f = queries.Filters(bucket=due, verdict=verdict, vendor=vendor, month=month, paid=paid)
    size = max(1, min(page_size, 500))
    result = queries.bills(s, f, request.app.state.today(), page, size)
    return {"items": [r.to_json() for r in result.rows], "page": result.page,
            "page_size": result.size, "total": result.total, "counts": result.counts}


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: int, _actor=allow("read"),
                s: Session = Depends(db)) -> dict[str, Any]:
    """One bill in the `invoices --json` shape, plus its documents, state and history."""
    b = queries.bill(s, invoice_id)
    if b is None:
        raise HTTPException(404, f"no invoice {invoice_id}")
    inv = b.invoice
    return {"id": inv.id, **invoice_json(s, inv),
            "paid_at": inv.paid_at.isoformat() if inv.paid_at else None,
            "state": str(actions.state_of(s, inv)), "fit_to_pay": actions.fit_to_pay(s, inv),
            "documents": [{"id": d.id, "kind": d.kind, "filename": d.filename, "size": d.size,
                           "url": f"/api/v1/invoices/{inv.id}/documents/{d.id}"}
                          for d in b.documents],
            "history": [_audit_json(e) for e in actions.history(s, inv.id)]}


@router.get("/invoices/{invoice_id}/documents/{document_id}",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def get_document(request: Request, invoice_id: int, document_id: int, _actor=allow("read"),
                 s: Session = Depends(db)) -> Response:
    """A document's bytes, with its real type."""
    doc = queries.document(s, invoice_id, document_id)
    if doc is None:
        raise HTTPException(404)
    return document_response(request.app.state.config, doc)


def _act(request: Request, s: Session, actor: Any, action: str, invoice_id: int,
         values: dict[str, Any]) -> Any:
    from parsers.errors import DeskError

    try:
        actions.run(s, request.app.state.config, actor, action, invoice_id, values)
    except DeskError as exc:
        s.rollback()
        status = 404 if exc.code == "not_found" else 403 if exc.code == "not_allowed" else 409
        return JSONResponse({"error": exc.code, "detail": str(exc)}, status_code=status)
    return get_invoice(invoice_id, actor, s)


@router.post("/invoices/{invoice_id}/approve")
def approve(request: Request, invoice_id: int, body: Decision, actor=allow("approve"),
            s: Session = Depends(db)) -> Any:
    """Approve a `review` bill."""
    return _act(request, s, actor, "approve", invoice_id, body.model_dump())


@router.post("/invoices/{invoice_id}/reject")
def reject(request: Request, invoice_id: int, body: Decision, actor=allow("reject"),
           s: Session = Depends(db)) -> Any:
    """Reject a bill."""
    return _act(request, s, actor, "reject", invoice_id, body.model_dump())


@router.post("/invoices/{invoice_id}/pay")
def pay(request: Request, invoice_id: int, body: Payment, actor=allow("pay"),
        s: Session = Depends(db)) -> Any:
    """Mark a bill paid."""
    values = body.model_dump()
    values["paid_on"] = values["paid_on"] or request.app.state.today()
    return _act(request, s, actor, "pay", invoice_id, values)


@router.post("/invoices/{invoice_id}/undo")
def undo(request: Request, invoice_id: int, body: Decision, actor=allow("undo"),
         s: Session = Depends(db)) -> Any:
    """Undo the bill's last decision."""
    return _act(request, s, actor, "undo", invoice_id, body.model_dump())


@router.post("/invoices/{invoice_id}/override")
def override(request: Request, invoice_id: int, body: Override, actor=allow("override"),
             s: Session = Depends(db)) -> Any:
    """Override a `block` verdict (admin only; confirm must be true)."""
    return _act(request, s, actor, "override", invoice_id, body.model_dump())


@router.post("/invoices/{invoice_id}/recheck")
def recheck(request: Request, invoice_id: int, actor=allow("recheck"),
            s: Session = Depends(db)) -> Any:
    """Judge the bill again against the current configuration."""
    return _act(request, s, actor, "recheck", invoice_id, {})


@router.get("/quarantine")
def quarantine(page: int = 1, _actor=allow("read"), s: Session = Depends(db)) -> dict[str, Any]:
    """Quarantined messages and why."""
    rows, total = queries.quarantined(s, page)
    return {"total": total, "page": page, "items": [
        {"message_id": m.id, "from": m.from_address, "subject": m.subject, "reason": m.reason,
         "received_at": m.received_at.isoformat(), "sha256": m.sha256} for m in rows]}


@router.post("/quarantine/{message_id}/retry")
def retry_quarantined(request: Request, message_id: int, actor=allow("retry")) -> Any:
    """Put a quarantined message back to pending: the daemon reads it again."""
    message = actions.retry(request.app.state.engine, request.app.state.config, actor,
                            message_id)
    done = message.startswith("Mensagem")
    return JSONResponse({"message_id": message_id, "retried": done, "detail": message},
                        status_code=200 if done else 409)


@router.get("/mailboxes")
def mailboxes(request: Request, _actor=allow("read")) -> list[dict[str, Any]]:
    """Per mailbox folder: last poll, cursor, backlog, last error (as `confere status --json`)."""
    from pipeline.mail.watcher import status_rows

    return status_rows(request.app.state.config, request.app.state.engine)


@router.get("/alerts")
def alerts(page: int = 1, _actor=allow("read"), s: Session = Depends(db)) -> dict[str, Any]:
    """The alert outbox, newest first."""
    rows, total = queries.alerts(s, page)
    return {"total": total, "page": page, "items": [
        {"id": a.id, "kind": a.kind, "invoice_id": a.invoice_id, "subject": a.subject,
         "status": a.status, "attempts": a.attempts, "last_error": a.last_error,
         "created_at": a.created_at.isoformat(),
         "sent_at": a.sent_at.isoformat() if a.sent_at else None} for a in rows]}


@router.get("/audit")
def audit(invoice_id: int | None = None, limit: int = 100, _actor=allow("read"),
          s: Session = Depends(db)) -> list[dict[str, Any]]:
    """The audit log, newest first."""
    return [_audit_json(e) for e in actions.history(s, invoice_id, max(1, min(limit, 1000)))]


@router.get("/costs")
def costs(request: Request, year: str | None = None, _actor=allow("read"),
          s: Session = Depends(db)) -> dict[str, Any]:
    """The year's billed vs expected per contract and month, and this month's forecasts."""
    from pipeline.reports.report import to_json
    from pipeline.web import costs as costs_view

    v = costs_view.view(s, request.app.state.config, year, request.app.state.today())
    return {"report": to_json(v.report), "forecasts": [f.to_json() for f in v.forecasts]}


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, _actor=allow("read")) -> dict[str, Any]:
    """The API's OpenAPI schema."""
    return request.app.openapi()
