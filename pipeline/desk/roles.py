"""Who may do what: three roles, the actions each allows, and the actor behind every change."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A person's (or token's) role: viewer reads, approver decides and pays, admin does all."""

    VIEWER = "viewer"
    APPROVER = "approver"
    ADMIN = "admin"


class Action(StrEnum):
    """The actions the desk guards (the audit log's `action` values use the same words)."""

    APPROVE = "approve"
    REJECT = "reject"
    UNDO = "undo"
    PAY = "pay"
    OVERRIDE = "override"
    RECHECK = "recheck"
    RETRY = "retry"
    MANAGE = "manage"  # users and tokens


@dataclass(frozen=True)
class Actor:
    """Who acts: a name, a role, and where from ("cli", or the client's IP address on the web)."""

    name: str
    role: Role
    source: str


ALLOWED: dict[Role, frozenset[Action]] = {
    Role.VIEWER: frozenset(),
    Role.APPROVER: frozenset({Action.APPROVE, Action.REJECT, Action.UNDO, Action.PAY,
                              Action.RECHECK, Action.RETRY}),
    Role.ADMIN: frozenset(Action),
}


def can(actor: Actor | None, action: Action | str) -> bool:
    """Whether the actor's role allows the action (no actor, or an unknown action: no)."""
    if actor is None:
        return False
    try:
        return Action(action) in ALLOWED[Role(actor.role)]
    except ValueError:
        return False


def cli_actor() -> Actor:
    """The person at the terminal: the OS user, as admin (they can read the store anyway)."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor(name=name, role=Role.ADMIN, source="cli")
