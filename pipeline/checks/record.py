"""Recording checks on a stored bill and keeping its verdict in step with all of them."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, select

from pipeline.checks.vocabulary import Check, verdict
from storage import CheckRow, Invoice, utcnow
from storage.sql import bulk_insert, update_rows


def record_checks(session: Session, invoice: Invoice, checks: Iterable[Check], *,
                  new: bool = False) -> str:
    """Insert or replace checks by name on an invoice, then recompute and set its verdict.

    Every stage that judges a bill (offline checks, issuer look-ups, reconciliation) records
    through this, so the verdict always follows the rules in pipeline.checks.vocabulary over all
    stored checks. new: the invoice was just inserted (by a Core INSERT, outside the session),
    so it has no checks to read first and its verdict is written by an UPDATE if it changes.
    The caller commits.
    """
    assert invoice.id is not None, "flush the invoice before recording checks"
    if new:  # one multi-row INSERT, no row objects: the bulk of a bill's writes
        by_name = {c.name: c for c in checks}
        now = utcnow()
        bulk_insert(session, CheckRow, [
            {"invoice_id": invoice.id, "name": c.name, "outcome": c.outcome, "detail": c.detail,
             "checked_at": now} for c in by_name.values()])
        judged = verdict(by_name.values())
        if judged != invoice.verdict:  # the invoice row was inserted with its offline verdict
            update_rows(session, Invoice, [{"id": invoice.id, "verdict": judged}])
            invoice.verdict = judged
        return judged
    existing = {c.name: c for c in session.exec(
        select(CheckRow).where(CheckRow.invoice_id == invoice.id)).all()}
    for check in checks:
        row = existing.get(check.name)
        if row is None:
            row = CheckRow(invoice_id=invoice.id, name=check.name, outcome=check.outcome,
                           detail=check.detail)
            existing[check.name] = row
        else:
            row.outcome, row.detail, row.checked_at = check.outcome, check.detail, utcnow()
        session.add(row)
    invoice.verdict = verdict(Check(r.name, r.outcome, r.detail)  # type: ignore[arg-type]
                              for r in existing.values())
    session.add(invoice)
    return invoice.verdict
