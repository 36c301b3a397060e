"""Who is asking and may they: sessions, bearer tokens, CSRF, login throttling, headers."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from sqlmodel import Session, select

if TYPE_CHECKING:
    from pipeline.desk.roles import Actor

READ = "read"  # every role may read; the other actions are pipeline.desk.roles.Action
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"

# The strict policy of every page: nothing inline, nothing from elsewhere.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
       "form-action 'self'")
# A PDF shown inside the desk: framed by the desk only, loading nothing but itself (Chrome's
# viewer embeds the PDF as an object of its own origin: object-src 'none' would blank it).
DOCUMENT_CSP = "default-src 'none'; object-src 'self'; frame-ancestors 'self'"
# A download: even if a browser rendered it, nothing in it could run.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


class NotLoggedIn(Exception):
    """The request carries no valid session or token (pages redirect, the API says 401)."""


class Forbidden(Exception):
    """The actor's role does not allow the action (403)."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        self.action = action


class BadCsrf(Exception):
    """A POST authenticated by cookie without the session's CSRF token (403)."""


class Throttle:
    """Failed logins per key in a sliding window; past the limit, the key waits."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._fails: dict[str, deque[float]] = defaultdict(deque)

    def _trim(self, key: str) -> deque[float]:
        fails = self._fails[key]
        cutoff = self.clock() - self.window
        while fails and fails[0] < cutoff:
            fails.popleft()
        return fails

    def wait(self, key: str) -> float:
        """Seconds until this key may try again (0: now)."""
        fails = self._trim(key)
        if len(fails) < self.limit:
            return 0.0
        return max(0.0, fails[0] + self.window - self.clock())

    def fail(self, key: str) -> None:
        """Count one failed attempt."""
        self._trim(key).append(self.clock())

    def clear(self, key: str) -> None:
        """A good login forgets the name's failures."""
        self._fails.pop(key, None)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (an anonymous session has one too)."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a POST whose form field or header does not carry the session's token."""
    expected = request.session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(expected, given):
        raise BadCsrf()


def client_ip(request: Request) -> str:
    """The peer address (a proxy's X-Forwarded-For is not trusted: it is the user's to set)."""
    return request.client.host if request.client else "unknown"


def session_actor(request: Request, max_age: float) -> Actor | None:
    """The actor of a signed session cookie, unless it is older than max_age."""
    from pipeline.desk.roles import Actor, Role

    data: dict[str, Any] = request.session
    name, role, since = data.get("user"), data.get("role"), data.get("since")
    if not name or not role or not isinstance(since, int | float):
        return None
    if time.time() - since > max_age or data.get("sid") in request.app.state.ended:
        request.session.clear()
        return None
    try:
        return Actor(name=name, role=Role(role), source=client_ip(request))
    except ValueError:
        return None


def current(s: Session, actor: Actor | None) -> Actor | None:
    """The session's person as the store has them now: a disabled or removed user is out at
    once, a changed role applies at once."""
    from pipeline.desk.roles import Actor, Role
    from storage import User

    if actor is None:
        return None
    user = s.exec(select(User).where(User.name == actor.name)).first()
    if user is None or user.disabled:
        return None
    return Actor(name=user.name, role=Role(user.role), source=actor.source)


def start_session(request: Request, actor: Actor) -> None:
    """A fresh session for a person who just logged in (new id and CSRF token: no fixation)."""
    request.session.clear()
    request.session.update(user=actor.name, role=str(actor.role), since=time.time(),
                           sid=secrets.token_urlsafe(16))
    csrf_token(request)


def end_session(request: Request) -> None:
    """Log out: the cookie is cleared, and a copy of it kept elsewhere is refused from now on.

    Sessions live in signed cookies; the ended ids are remembered (in this process) until
    they would have expired anyway.
    """
    ended: dict[str, float] = request.app.state.ended
    now = time.time()
    for sid, until in list(ended.items()):
        if until < now:
            del ended[sid]
    sid = request.session.get("sid")
    if sid:
        ended[sid] = now + request.app.state.session_max_age
    request.session.clear()


def bearer_actor(request: Request, s: Session) -> Actor | None:
    """The actor of an `Authorization: Bearer` token (checked hashed by pipeline.desk.users)."""
    from pipeline.desk.users import token_actor

    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token_actor(s, token.strip(), source=client_ip(request))


def db(request: Request):
    """One store session per request."""
    with Session(request.app.state.engine, expire_on_commit=False) as s:
        yield s


def allow(action: str) -> Any:
    """The dependency every route but login and static files carries: who may do `action`.

    A bearer token is used when present; otherwise the session cookie, and then a POST must
    carry the CSRF token. No actor: NotLoggedIn; a role without the right: Forbidden.
    """
    from pipeline.desk.roles import can

    async def dependency(request: Request, s: Session = Depends(db)) -> Actor:
        actor = None
        if request.headers.get("authorization"):
            actor = bearer_actor(request, s)
        else:
            actor = current(s, session_actor(request, request.app.state.session_max_age))
            if actor is None:
                request.session.pop("user", None)
            elif request.method not in ("GET", "HEAD"):
                await check_csrf(request)
        if actor is None:
            raise NotLoggedIn()
        if action != READ and not can(actor, action):
            raise Forbidden(action)
        request.state.actor = actor
        return actor

    dependency.action = action  # type: ignore[attr-defined]  # read by the route walk test
    return Depends(dependency)
