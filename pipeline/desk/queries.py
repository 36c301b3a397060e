"""Listing bills for people: by due date, with the filters of `confere invoices` and "A pagar".

One query joins each bill to its boleto and its decision; filters run in SQL so a store of
10,000 bills lists in milliseconds. The due date is the email's, else the boleto's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from pipeline.desk.workflow import SAO_PAULO, DecisionState, decision_state, fit_to_pay, paid_on
from storage import BoletoRow, Invoice, InvoiceDecision


class Due(StrEnum):
    """Where an unpaid bill's due date falls: past, within 7 days, later (or no date)."""

    OVERDUE = "overdue"
    WEEK = "week"
    LATER = "later"


STATUS_FILTERS = (*[str(s) for s in DecisionState], "unpaid", "payable")
WEEK_DAYS = 7


@dataclass(frozen=True)
class BillRow:
    """One bill as a listing shows it."""

    invoice: Invoice
    boleto: BoletoRow | None
    decision: InvoiceDecision | None
    due_date: date | None
    amount_cents: int | None
    state: DecisionState
    fit_to_pay: bool
    due: Due | None  # None for a paid or rejected bill
    paid_on: date | None

    def desk_json(self) -> dict[str, Any]:
        """The `desk` key added to a listed invoice object: what people did about it."""
        d = self.decision
        decided = d is not None and d.decision
        return {"state": str(self.state), "fit_to_pay": self.fit_to_pay,
                "due": str(self.due) if self.due else None,
                "paid_on": self.paid_on.isoformat() if self.paid_on else None,
                "decided_by": d.decided_by if decided else None,  # type: ignore[union-attr]
                "decided_at": d.decided_at.isoformat() if decided and d.decided_at else None,  # type: ignore[union-attr]
                "reason": d.reason if decided else None,  # type: ignore[union-attr]
                "proof": d.proof_name if d is not None and d.proof_sha256 else None}


def today_local() -> date:
    """Today in Sao Paulo (the finance team's calendar)."""
    return datetime.now(SAO_PAULO).date()


def due_of(due: date | None, today: date) -> Due:
    """Which bucket a due date falls in."""
    if due is None:
        return Due.LATER
    if due < today:
        return Due.OVERDUE
    return Due.WEEK if due <= today + timedelta(days=WEEK_DAYS) else Due.LATER


def _joined(*columns: Any) -> Any:
    """A select of the columns over bills joined to their boleto and decision (outer joins)."""
    return (select(*columns)
            .join(BoletoRow, col(BoletoRow.invoice_id) == Invoice.id, isouter=True)
            .join(InvoiceDecision, col(InvoiceDecision.invoice_id) == Invoice.id, isouter=True))


def _filter(query: Any, *, due: Due | str | None, verdict: str | None, month: str | None,
            status: str | None, vendor: str | None, today: date) -> Any:
    """The listing's filters, in SQL."""
    due_col = func.coalesce(Invoice.due_date, BoletoRow.due_date)
    if verdict:
        query = query.where(Invoice.verdict == verdict)
    if month:
        query = query.where(Invoice.reference_month == month)
    if vendor:
        query = query.where(Invoice.vendor == vendor)
    undecided = col(InvoiceDecision.decision).is_(None)
    unpaid = col(Invoice.paid_at).is_(None)
    if status:
        if status not in STATUS_FILTERS:
            raise ValueError(f"unknown status {status!r}: one of {', '.join(STATUS_FILTERS)}")
        if status == "paid":
            query = query.where(col(Invoice.paid_at).is_not(None))
        elif status == "unpaid":
            query = query.where(unpaid)
        elif status == "open":
            query = query.where(unpaid, undecided)
        elif status == "payable":
            query = query.where(unpaid, or_(
                InvoiceDecision.decision == "overridden",
                and_(Invoice.verdict != "block", or_(
                    InvoiceDecision.decision == "approved",
                    and_(undecided, Invoice.verdict == "ok")))))
        else:
            query = query.where(unpaid, InvoiceDecision.decision == status)
    if due:
        due = Due(due)
        outstanding = and_(unpaid, or_(undecided, InvoiceDecision.decision != "rejected"))
        week_end = today + timedelta(days=WEEK_DAYS)
        window = {Due.OVERDUE: due_col < today,
                  Due.WEEK: and_(due_col >= today, due_col <= week_end),
                  Due.LATER: or_(due_col.is_(None), due_col > week_end)}[due]
        query = query.where(outstanding, window)
    return query


def list_bills(s: Session, *, due: Due | str | None = None, verdict: str | None = None,
               month: str | None = None, status: str | None = None, vendor: str | None = None,
               today: date | None = None, limit: int | None = None,
               offset: int = 0) -> list[BillRow]:
    """Bills sorted by due date (none last), then id; each filter None means any.

    due: overdue / week / later, among outstanding bills only (not paid, not rejected);
    status: a decision state, `unpaid` (not paid), or `payable` (fit to pay now);
    month: the reference month, YYYY-MM. limit / offset: one page.
    """
    today = today or today_local()
    due_col = func.coalesce(Invoice.due_date, BoletoRow.due_date)
    filters = {"due": due, "verdict": verdict, "month": month, "status": status,
               "vendor": vendor, "today": today}
    order = (due_col.is_(None), due_col, Invoice.id)
    if limit is None:
        query = _filter(_joined(Invoice, BoletoRow, InvoiceDecision), **filters)
        return [_row(inv, boleto, decision, today) for inv, boleto, decision in
                s.exec(query.order_by(*order).offset(offset)).all()]
    # A page: sort only the ids (a narrow sort), then load that page's rows.
    ids = list(s.exec(_filter(_joined(Invoice.id), **filters)
                      .order_by(*order).offset(offset).limit(limit)).all())
    page = {inv.id: (inv, boleto, decision) for inv, boleto, decision in s.exec(
        _joined(Invoice, BoletoRow, InvoiceDecision).where(col(Invoice.id).in_(ids))).all()}
    return [_row(*page[i], today) for i in ids]


def count_bills(s: Session, *, due: Due | str | None = None, verdict: str | None = None,
                month: str | None = None, status: str | None = None,
                vendor: str | None = None, today: date | None = None) -> int:
    """How many bills list_bills would return with these filters (for paging)."""
    query = _filter(_joined(func.count(Invoice.id)), due=due, verdict=verdict, month=month,
                    status=status, vendor=vendor, today=today or today_local())
    return int(s.exec(query).one())


def bill_row(s: Session, invoice_id: int, today: date | None = None) -> BillRow | None:
    """One bill as a listing would show it (None: no such bill)."""
    inv = s.get(Invoice, invoice_id)
    if inv is None:
        return None
    boleto = s.exec(select(BoletoRow).where(BoletoRow.invoice_id == invoice_id)).first()
    decision = s.exec(select(InvoiceDecision)
                      .where(InvoiceDecision.invoice_id == invoice_id)).first()
    return _row(inv, boleto, decision, today or today_local())


def _row(inv: Invoice, boleto: BoletoRow | None, decision: InvoiceDecision | None,
         today: date) -> BillRow:
    state = decision_state(inv, decision)
    due_date = inv.due_date or (boleto.due_date if boleto else None)
    outstanding = state not in (DecisionState.PAID, DecisionState.REJECTED)
    return BillRow(invoice=inv, boleto=boleto, decision=decision, due_date=due_date,
                   amount_cents=boleto.amount_cents if boleto else inv.net_cents, state=state,
                   fit_to_pay=fit_to_pay(inv, decision),
                   due=due_of(due_date, today) if outstanding else None,
                   paid_on=paid_on(inv, decision))
