"""The desk's pt-BR pages: login, A pagar, the bill, quarantine, costs, mailboxes, alerts, audit."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from pipeline.checks.vocabulary import VERDICT_WORDS
from pipeline.web import actions, queries
from pipeline.web.documents import (
    document_response,
    original_email_response,
    stored_file_response,
)
from pipeline.web.security import (
    allow,
    check_csrf,
    client_ip,
    csrf_token,
    db,
    end_session,
    session_actor,
    start_session,
)

router = APIRouter(include_in_schema=False)
NAV = (("/a-pagar", "A pagar"), ("/quarentena", "Quarentena"), ("/custos", "Custos"),
       ("/caixas", "Caixas de e-mail"), ("/alertas", "Alertas"), ("/auditoria", "Auditoria"))


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page with what every page needs: the actor, the CSRF token, the menu, a flash line."""
    actor = getattr(request.state, "actor", None)
    flash = request.session.pop("flash", None) if actor else None
    return request.app.state.templates.TemplateResponse(
        request, name, {"actor": actor, "csrf": csrf_token(request), "nav": NAV,
                        "flash": flash, "path": request.url.path, **context},
        status_code=status_code)


def error_page(request: Request, status: int, title: str, text: str) -> HTMLResponse:
    """A pt-BR error page."""
    return render(request, "error.html", status_code=status, title=title, text=text)


def _today(request: Request) -> date:
    return request.app.state.today()


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never "//host" or "https://host" (an open redirect).
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/a-pagar"


# -- login ----------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The login form (an anonymous session gets its CSRF token here)."""
    if session_actor(request, request.app.state.session_max_age) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", next=_safe_next(next), error=None, title="Entrar")


@router.post("/login")
async def login(request: Request, name: str = Form(""), password: str = Form(""),
                next: str = Form("/a-pagar"), s: Session = Depends(db)) -> Response:
    """Check the password; throttle failures per name and per address."""
    from pipeline.desk.users import authenticate

    await check_csrf(request)
    by_name, by_ip = request.app.state.throttle_name, request.app.state.throttle_ip
    name_key, ip_key = name.strip().lower(), client_ip(request)
    wait = max(by_name.wait(name_key), by_ip.wait(ip_key))
    if wait > 0:
        minutes = int(wait // 60) + 1
        return render(request, "login.html", status_code=429, next=_safe_next(next),
                      title="Entrar",
                      error=f"Muitas tentativas. Tente de novo em {minutes} min.")
    actor = (authenticate(s, name.strip(), password, source=ip_key)
             if name and password else None)
    s.commit()  # a hash made with older parameters was upgraded
    if actor is None:
        by_name.fail(name_key)
        by_ip.fail(ip_key)
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      title="Entrar", error="Usuário ou senha incorretos.")
    by_name.clear(name_key)
    start_session(request, actor)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, _actor=allow("read")) -> Response:
    """End the session."""
    end_session(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(_actor=allow("read")) -> Response:
    """The desk opens on what to pay."""
    return RedirectResponse("/a-pagar", status_code=303)


# -- A pagar --------------------------------------------------------------------------------
def filters_from(vencimento: str | None, veredito: str | None, fornecedor: str | None,
                 mes: str | None, pagas: bool = False) -> queries.Filters:
    """Query-string filters, unknown values ignored."""
    return queries.Filters(
        bucket=vencimento if vencimento in queries.BUCKETS else None,
        verdict=veredito if veredito in VERDICT_WORDS else None,
        vendor=fornecedor or None,
        month=mes if mes and len(mes) == 7 and mes[4] == "-" else None,
        paid=pagas)


@router.get("/a-pagar")
def a_pagar(request: Request, vencimento: str | None = None, veredito: str | None = None,
            fornecedor: str | None = None, mes: str | None = None, pagina: int = 1,
            pagas: bool = False, _actor=allow("read"), s: Session = Depends(db)) -> Response:
    """Open bills by due date: overdue, this week, later."""
    f = filters_from(vencimento, veredito, fornecedor, mes, pagas)
    size = request.app.state.config.settings.web.page_size
    today = _today(request)
    page = queries.bills(s, f, today, pagina, size)
    query = {k: v for k, v in (("vencimento", f.bucket), ("veredito", f.verdict),
                               ("fornecedor", f.vendor), ("mes", f.month),
                               ("pagas", "1" if f.paid else None)) if v}
    return render(request, "a_pagar.html", title="A pagar", page=page, f=f, today=today,
                  week_end=queries.week_end(today), buckets=queries.BUCKET_TITLES,
                  verdict_words=VERDICT_WORDS, vendors=queries.vendors(s),
                  states=actions.STATE_WORDS,
                  query=urlencode(query))


# -- one bill -------------------------------------------------------------------------------
@router.get("/faturas/{invoice_id}")
def bill_page(request: Request, invoice_id: int, actor=allow("read"),
              s: Session = Depends(db)) -> Response:
    """The bill: verdict and why, payment block, documents, checks, history, decisions."""
    b = queries.bill(s, invoice_id)
    if b is None:
        return error_page(request, 404, "Fatura não encontrada", f"Não há fatura nº {invoice_id}.")
    return render(request, "bill.html", title=f"Fatura {invoice_id}", b=b,
                  verdict_words=VERDICT_WORDS,
                  state=actions.STATE_WORDS[actions.state_of(s, b.invoice)],
                  fit_to_pay=actions.fit_to_pay(s, b.invoice),
                  history=actions.history(s, invoice_id),
                  extra_files=queries.extra_files(s, invoice_id),
                  decision=actions.decision_of(s, invoice_id),
                  forms=actions.forms_for(s, actor, b.invoice), today=_today(request))


@router.get("/faturas/{invoice_id}/documentos/{document_id}")
def bill_document(request: Request, invoice_id: int, document_id: int, _actor=allow("read"),
                  s: Session = Depends(db)) -> Response:
    """A document of the bill: a PDF inline, anything else as a download."""
    doc = queries.document(s, invoice_id, document_id)
    if doc is None:
        raise HTTPException(404)
    return document_response(request.app.state.config, doc)


@router.get("/faturas/{invoice_id}/arquivos/{number}")
def bill_file(request: Request, invoice_id: int, number: int, _actor=allow("read"),
              s: Session = Depends(db)) -> Response:
    """The other stored files of a bill (the issuer's XML, the proof of payment), by number."""
    f = queries.extra_file(s, invoice_id, number)
    if f is None:
        raise HTTPException(404)
    return stored_file_response(request.app.state.config, f)


@router.get("/mensagens/{message_id}/original")
def original_email(request: Request, message_id: int, _actor=allow("read"),
                   s: Session = Depends(db)) -> Response:
    """The email as received, as a download (message/rfc822)."""
    return original_email_response(request.app.state.config, s, message_id)


async def _decide(request: Request, s: Session, actor: Any, action: str,
                  invoice_id: int) -> Response:
    form = await request.form()
    request.session["flash"] = await actions.perform(s, request.app.state.config, actor, action,
                                                     invoice_id, form)
    return RedirectResponse(f"/faturas/{invoice_id}", status_code=303)


@router.post("/faturas/{invoice_id}/aprovar")
async def aprovar(request: Request, invoice_id: int, actor=allow("approve"),
                  s: Session = Depends(db)) -> Response:
    """Approve a `review` bill, with a reason."""
    return await _decide(request, s, actor, "approve", invoice_id)


@router.post("/faturas/{invoice_id}/rejeitar")
async def rejeitar(request: Request, invoice_id: int, actor=allow("reject"),
                   s: Session = Depends(db)) -> Response:
    """Reject a bill, with a reason."""
    return await _decide(request, s, actor, "reject", invoice_id)


@router.post("/faturas/{invoice_id}/pagar")
async def pagar(request: Request, invoice_id: int, actor=allow("pay"),
                s: Session = Depends(db)) -> Response:
    """Mark a bill paid on a date."""
    return await _decide(request, s, actor, "pay", invoice_id)


@router.post("/faturas/{invoice_id}/desfazer")
async def desfazer(request: Request, invoice_id: int, actor=allow("undo"),
                   s: Session = Depends(db)) -> Response:
    """Undo the last decision, with a reason."""
    return await _decide(request, s, actor, "undo", invoice_id)


@router.post("/faturas/{invoice_id}/liberar")
async def liberar(request: Request, invoice_id: int, actor=allow("override"),
                  s: Session = Depends(db)) -> Response:
    """Override a `block` verdict (admin, reason and a second confirmation)."""
    return await _decide(request, s, actor, "override", invoice_id)


@router.post("/faturas/{invoice_id}/reverificar")
async def reverificar(request: Request, invoice_id: int, actor=allow("recheck"),
                      s: Session = Depends(db)) -> Response:
    """Judge the bill again against the current configuration."""
    return await _decide(request, s, actor, "recheck", invoice_id)


# -- the other pages ------------------------------------------------------------------------
@router.get("/quarentena")
def quarentena(request: Request, pagina: int = 1, _actor=allow("read"),
               s: Session = Depends(db)) -> Response:
    """Quarantined mail: why, and the original to download."""
    rows, total = queries.quarantined(s, pagina)
    from pipeline.desk.roles import can

    return render(request, "quarentena.html", title="Quarentena", rows=rows, total=total,
                  pagina=max(1, pagina),
                  retry=can(request.state.actor, "retry"))


@router.post("/quarentena/{message_id}/reprocessar")
def reprocessar(request: Request, message_id: int, actor=allow("retry")) -> Response:
    """Give a quarantined message another go (the retry service of pipeline.ingest)."""
    request.session["flash"] = actions.retry(request.app.state.engine,
                                             request.app.state.config, actor, message_id)
    return RedirectResponse("/quarentena", status_code=303)


@router.get("/custos")
def custos(request: Request, ano: str | None = None, _actor=allow("read"),
           s: Session = Depends(db)) -> Response:
    """Billed vs expected per contract and month, the chart, this month's forecast."""
    from pipeline.web import costs

    view = costs.view(s, request.app.state.config, ano, _today(request))
    return render(request, "custos.html", title="Custos", v=view)


@router.get("/custos/grafico.svg")
def custos_chart(request: Request, ano: str | None = None, _actor=allow("read"),
                 s: Session = Depends(db)) -> Response:
    """The billed-vs-expected chart as an SVG image (no inline styles in the page)."""
    from pipeline.web import costs

    svg = costs.chart(s, request.app.state.config, ano, _today(request))
    return Response(svg, media_type="image/svg+xml",
                    headers={"Content-Security-Policy": "default-src 'none'; style-src "
                             "'unsafe-inline'"})


@router.get("/caixas")
def caixas(request: Request, _actor=allow("read")) -> Response:
    """Per mailbox folder: last poll, backlog, errors."""
    from pipeline.mail.watcher import status_rows

    rows = status_rows(request.app.state.config, request.app.state.engine)
    return render(request, "caixas.html", title="Caixas de e-mail", rows=rows)


@router.get("/alertas")
def alertas(request: Request, pagina: int = 1, _actor=allow("read"),
            s: Session = Depends(db)) -> Response:
    """The alert outbox."""
    rows, total = queries.alerts(s, pagina)
    return render(request, "alertas.html", title="Alertas", rows=rows, total=total,
                  pagina=max(1, pagina))


@router.get("/auditoria")
def auditoria(request: Request, fatura: int | None = None, _actor=allow("read"),
              s: Session = Depends(db)) -> Response:
    """Who did what, when, from where, and why."""
    return render(request, "auditoria.html", title="Auditoria",
                  rows=actions.history(s, fatura, limit=500), fatura=fatura)


@router.get("/api/docs")
def api_docs(request: Request, _actor=allow("read")) -> Response:
    """The API's reference, drawn from its OpenAPI schema on this server (no CDN)."""
    schema = request.app.openapi()
    return render(request, "api_docs.html", title="API", schema=schema)
