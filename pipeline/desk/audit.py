"""The audit log: who did what to which bill, when, from where, before and after, and why.

Append-only: this module only inserts and reads; the migration adds triggers that make the
database itself refuse UPDATE and DELETE on `audit_log`.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from pipeline.desk.roles import Actor
from storage import AuditEntry, utcnow


def record(s: Session, actor: Actor, action: str, invoice_id: int | None,
           before: dict[str, Any], after: dict[str, Any], reason: str | None) -> AuditEntry:
    """Add one entry (the caller commits, with the change it describes)."""
    entry = AuditEntry(at=utcnow(), actor=actor.name, role=str(actor.role), source=actor.source,
                       action=str(action), invoice_id=invoice_id,
                       before=json.dumps(before, ensure_ascii=False, sort_keys=True, default=str),
                       after=json.dumps(after, ensure_ascii=False, sort_keys=True, default=str),
                       reason=reason)
    s.add(entry)
    return entry


def entries(s: Session, invoice_id: int | None = None, limit: int | None = 200,
            action: str | None = None, before_id: int | None = None) -> list[AuditEntry]:
    """Entries newest first; one bill's, one action's, or all; before_id pages back."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc())
    if invoice_id is not None:
        query = query.where(AuditEntry.invoice_id == invoice_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    if limit is not None:
        query = query.limit(limit)
    return list(s.exec(query).all())


def entry_json(e: AuditEntry) -> dict[str, Any]:
    """One entry as the JSON the CLI and the API print."""
    return {"id": e.id, "invoice_id": e.invoice_id, "action": e.action, "actor": e.actor,
            "role": e.role, "source": e.source, "reason": e.reason, "at": e.at.isoformat(),
            "before": json.loads(e.before), "after": json.loads(e.after)}
