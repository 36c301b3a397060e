"""People and API tokens: argon2 password hashes, tokens kept only as their sha256.

Every change is audited when an actor is given (the CLI and the web give one); the caller
commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from parsers.errors import AccountError, NotAllowed
from pipeline.desk import audit
from pipeline.desk.roles import Action, Actor, Role, can
from storage import ApiToken, User, utcnow

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
MIN_PASSWORD = 10
TOKEN_PREFIX = "cft_"
_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise AccountError(f"{name!r} is not a valid name (letters, digits, . _ @ -; at most "
                           "100 characters)", "bad_name")
    return name


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(f"{role!r} is not a role ({', '.join(Role)})", "bad_role") from None


def _manage(actor: Actor | None) -> None:
    if actor is not None and not can(actor, Action.MANAGE):
        raise NotAllowed(f"{actor.name} ({actor.role}) may not manage users and tokens",
                         "not_allowed")


def add_user(s: Session, name: str, role: Role | str, password: str, *,
             actor: Actor | None = None) -> User:
    """A new person with a role; the password (at least 10 characters) is stored hashed."""
    _manage(actor)
    name, role = _check_name(name), _role(role)
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters",
                           "weak_password")
    if s.exec(select(User).where(User.name == name)).first() is not None:
        raise AccountError(f"user {name} already exists", "name_taken")
    user = User(name=name, role=str(role), password_hash=_hasher.hash(password))
    s.add(user)
    if actor is not None:
        audit.record(s, actor, "user.add", None, {}, {"user": name, "role": str(role)}, None)
    return user


def set_password(s: Session, name: str, password: str, *, actor: Actor | None = None) -> User:
    """Replace a person's password."""
    _manage(actor)
    user = s.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise AccountError(f"no user {name}", "not_found")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters",
                           "weak_password")
    user.password_hash = _hasher.hash(password)
    s.add(user)
    if actor is not None:
        audit.record(s, actor, "user.password", None, {}, {"user": name}, None)
    return user


def set_disabled(s: Session, name: str, disabled: bool, *, actor: Actor | None = None) -> User:
    """Disable (or enable again) a person's login."""
    _manage(actor)
    user = s.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise AccountError(f"no user {name}", "not_found")
    before = {"user": name, "disabled": user.disabled}
    user.disabled = disabled
    s.add(user)
    if actor is not None:
        audit.record(s, actor, "user.disable" if disabled else "user.enable", None, before,
                     {"user": name, "disabled": disabled}, None)
    return user


def authenticate(s: Session, name: str, password: str, *, source: str = "web") -> Actor | None:
    """The person's actor when the name and password match (and the user is enabled), else None.

    A hash made with older parameters is upgraded in place (the caller commits).
    """
    user = s.exec(select(User).where(User.name == name)).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        s.add(user)
    return Actor(name=user.name, role=Role(user.role), source=source)


def list_users(s: Session) -> list[User]:
    """Every user, by name."""
    return list(s.exec(select(User).order_by(User.name)).all())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_token(s: Session, name: str, role: Role | str, *, actor: Actor | None = None) -> str:
    """A new API token for a name and role; returns the token, which is never shown again."""
    _manage(actor)
    name, role = _check_name(name), _role(role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    s.add(ApiToken(name=name, role=str(role), token_hash=_digest(token)))
    if actor is not None:
        audit.record(s, actor, "token.add", None, {}, {"token": name, "role": str(role)}, None)
    return token


def token_actor(s: Session, token: str, *, source: str = "api") -> Actor | None:
    """The actor of a valid, unrevoked token ("token:NAME"), else None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = s.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Actor(name=f"token:{row.name}", role=Role(row.role), source=source)


def revoke_token(s: Session, name: str, *, actor: Actor | None = None) -> int:
    """Revoke every active token of that name; how many were revoked."""
    _manage(actor)
    rows = s.exec(select(ApiToken).where(ApiToken.name == name,
                                         ApiToken.revoked_at.is_(None))).all()  # type: ignore[union-attr]
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        s.add(row)
    if rows and actor is not None:
        audit.record(s, actor, "token.revoke", None, {"token": name, "active": len(rows)},
                     {"token": name, "active": 0}, None)
    return len(rows)


def list_tokens(s: Session) -> list[ApiToken]:
    """Every token (never its secret), newest first."""
    return list(s.exec(select(ApiToken).order_by(ApiToken.id.desc())).all())  # type: ignore[union-attr]
