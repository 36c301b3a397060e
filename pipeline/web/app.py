"""The desk's application: FastAPI with Jinja2 pages, signed sessions, strict headers."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from pipeline.config.settings import Config, parse_interval
from pipeline.notify.rules import today_local
from pipeline.templates import brl, data, mes, mes_extenso
from pipeline.web.security import CSP, BadCsrf, Forbidden, NotLoggedIn, Throttle

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
SESSION_COOKIE = "confere_session"


def quando(value: object) -> str:
    """A moment as dd/mm/aaaa HH:MM on the São Paulo clock (an ISO string or a datetime)."""
    from datetime import datetime

    from pipeline.templates import SAO_PAULO

    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "-" if value is None else str(value)
    if value.tzinfo is not None:
        value = value.astimezone(SAO_PAULO)
    return value.strftime("%d/%m/%Y %H:%M")


def templates() -> Jinja2Templates:
    """Jinja2 with autoescape on for every template (all of them are HTML)."""
    from parsers.boleto import format_line
    from parsers.cnpj import format_cnpj

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(brl=brl, data=data, mes=mes, mes_extenso=mes_extenso,
                       linha=lambda v: format_line(v) if v else "-",
                       cnpj=lambda v: format_cnpj(v) if v else "-", quando=quando)
    return Jinja2Templates(env=env)


def signing_key(config: Config) -> str:
    """The cookie signing key from [web].secret_env, else a random one for this process."""
    name = config.settings.web.secret_env
    if name:
        value = os.environ.get(name, "")
        if len(value) >= 16:
            return value
        log.warning("web.secret_env names %s, which is unset or shorter than 16 characters: "
                    "using a random key (sessions end when the desk restarts)", name)
    return secrets.token_urlsafe(48)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/v1/")


def create_app(config: Config, engine: Engine | None = None, *,
               today: Callable[[], date] = today_local, secret: str | None = None,
               secure: bool | None = None) -> FastAPI:
    """The desk for one configuration and store; `today` is the calendar "A pagar" uses."""
    from pipeline.web import api, pages
    from storage import open_store

    web = config.settings.web
    app = FastAPI(title="confere", version="1", summary="The finance desk's JSON API",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.engine = engine or open_store(config.database_url)
    app.state.today = today
    app.state.templates = templates()
    app.state.session_max_age = parse_interval(web.session_max_age)
    app.state.ended = {}  # session ids logged out, until they would expire
    app.state.throttle_name = Throttle(limit=5, window=900)
    app.state.throttle_ip = Throttle(limit=20, window=900)
    if secure is None:
        secure = bool(web.base_url and web.base_url.startswith("https://"))

    @app.middleware("http")
    async def headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    app.add_middleware(SessionMiddleware, secret_key=secret or signing_key(config),
                       session_cookie=SESSION_COOKIE,
                       max_age=int(app.state.session_max_age), same_site="lax",
                       https_only=secure)

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, _exc: NotLoggedIn) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "unauthorized", "detail": "a bearer token is needed"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "forbidden",
                                 "detail": f"your role may not {exc.action}"}, status_code=403)
        return pages.error_page(request, 403, "Sem permissão",
                                "O seu papel não permite esta ação.")

    @app.exception_handler(BadCsrf)
    async def bad_csrf(request: Request, _exc: BadCsrf) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "csrf", "detail": "missing or wrong X-CSRF-Token"},
                                status_code=403)
        return pages.error_page(request, 403, "Formulário expirado",
                                "Recarregue a página e tente de novo.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path.startswith("/static/"):
            return JSONResponse({"error": "http", "detail": exc.detail},
                                status_code=exc.status_code, headers=exc.headers)
        words = {404: ("Não encontrado", "Esta página ou este arquivo não existe."),
                 410: ("Arquivo ausente", "O arquivo guardado não foi encontrado.")}
        title, text = words.get(exc.status_code, ("Erro", str(exc.detail)))
        return pages.error_page(request, exc.status_code, title, text)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    return app
