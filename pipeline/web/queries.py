"""The desk's reads: open bills by due date (paginated), one bill whole, the other pages' rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func
from sqlmodel import Session, select

from pipeline.checks import render
from pipeline.checks.vocabulary import FORGERY_GRADE, order_key
from pipeline.desk.explain import verdict_reason
from pipeline.desk.queries import WEEK_DAYS, Due, due_of
from pipeline.vocabulary import MessageStatus, Outcome
from storage import BoletoRow, CheckRow, Document, Invoice, InvoiceDecision, Message
from storage.alert_models import Alert
from storage.verification_models import Verification

# The due buckets of pipeline.desk.queries (overdue, within WEEK_DAYS, later), plus bills
# with no due date at all, listed apart so that nobody misses them.
BUCKETS = (str(Due.OVERDUE), str(Due.WEEK), str(Due.LATER), "none")
BUCKET_TITLES = {"overdue": "Vencidas", "week": f"Vencem nos próximos {WEEK_DAYS} dias",
                 "later": "Depois", "none": "Sem vencimento"}


def week_end(today: date) -> date:
    """The last day of the "week" bucket."""
    return today + timedelta(days=WEEK_DAYS)


def bucket_of(due: date | None, today: date) -> str:
    """Which part of "A pagar" a due date falls in."""
    return "none" if due is None else str(due_of(due, today))


@dataclass(frozen=True)
class Filters:
    """What the "A pagar" page and /api/v1/invoices narrow the list by."""

    bucket: str | None = None  # one of BUCKETS
    verdict: str | None = None
    vendor: str | None = None
    month: str | None = None  # reference month YYYY-MM
    paid: bool = False  # False: open bills only; True: paid ones only


@dataclass
class BillRow:
    """One line of a bill list."""

    id: int
    vendor: str
    contract_number: str | None
    reference_month: str | None
    due_date: date | None
    amount_cents: int | None
    verdict: str
    nfse_number: str | None
    paid_at: Any
    decision: str | None
    bucket: str

    def to_json(self) -> dict[str, Any]:
        """The API's list item."""
        from pipeline.contract import _money

        return {"id": self.id, "vendor": self.vendor, "contract_number": self.contract_number,
                "reference_month": self.reference_month,
                "due_date": self.due_date.isoformat() if self.due_date else None,
                "amount": _money(self.amount_cents), "verdict": self.verdict,
                "nfse_number": self.nfse_number,
                "paid_at": self.paid_at.isoformat() if self.paid_at else None,
                "state": "paid" if self.paid_at else (self.decision or "open"),
                "due": self.bucket}


@dataclass
class BillPage:
    """One page of bills and the count per bucket under the same filters."""

    rows: list[BillRow]
    counts: dict[str, int]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _boleto_due():
    # Evaluated only for a bill whose email gave no due date (coalesce stops at the first).
    return (select(BoletoRow.due_date).where(BoletoRow.invoice_id == Invoice.id)
            .correlate(Invoice).scalar_subquery())


def _due_expr():
    # The bill's due date: the email's, else the boleto's.
    return func.coalesce(Invoice.due_date, _boleto_due())


def _window(due, f: Filters, today: date):
    end = week_end(today)
    return {"overdue": due < today, "week": due.between(today, end), "later": due > end,
            "none": due.is_(None)}[f.bucket] if f.bucket else None


def _where(stmt, f: Filters):
    if f.paid:
        stmt = stmt.where(Invoice.paid_at.is_not(None))
    else:  # open: neither paid nor rejected
        rejected = select(InvoiceDecision.invoice_id).where(InvoiceDecision.decision == "rejected")
        stmt = stmt.where(Invoice.paid_at.is_(None), Invoice.id.not_in(rejected))
    if f.verdict:
        stmt = stmt.where(Invoice.verdict == f.verdict)
    if f.vendor:
        stmt = stmt.where(Invoice.vendor == f.vendor)
    if f.month:
        stmt = stmt.where(Invoice.reference_month == f.month)
    return stmt


def _page_keys(s: Session, f: Filters, today: date, offset: int,
               size: int) -> list[tuple[int, Any]]:
    """(id, due date) of one page of bills in due-date order.

    Two index-friendly halves instead of one sort of every bill: bills whose email gave the
    due date, read in order from ix_invoice_open_due and stopped at the page's end; and the few
    whose due date is the boleto's, merged in here. With none of those, the page is read with
    an OFFSET straight from the index.
    """
    upto = offset + size
    dated = _where(select(Invoice.id, Invoice.due_date), f).where(Invoice.due_date.is_not(None))
    window = _window(Invoice.due_date, f, today)
    if f.bucket == "none":
        window = Invoice.id.is_(None)  # a dated bill is never in "none"
    if window is not None:
        dated = dated.where(window)
    dated = dated.order_by(Invoice.due_date, Invoice.id)
    boleto_due = _boleto_due()
    undated = _where(select(Invoice.id, boleto_due), f).where(Invoice.due_date.is_(None))
    window = _window(boleto_due, f, today)
    if window is not None:
        undated = undated.where(window)
    undated = undated.order_by(boleto_due.is_(None), boleto_due, Invoice.id).limit(upto)
    extra = [tuple(r) for r in s.exec(undated).all()]
    if not extra:
        return [tuple(r) for r in s.exec(dated.limit(size).offset(offset)).all()]
    keys = [tuple(r) for r in s.exec(dated.limit(upto)).all()] + extra
    keys.sort(key=lambda k: (k[1] is None, k[1] or date.min, k[0]))
    return keys[offset:upto]


def bills(s: Session, f: Filters, today: date, page: int = 1, size: int = 50) -> BillPage:
    """Bills ordered by due date (none last), one page, with the per-bucket counts."""
    page = max(1, page)
    offset = (page - 1) * size
    keys = _page_keys(s, f, today, offset, size)
    due_of_id = {k[0]: k[1] for k in keys}
    cols = (Invoice.id, Invoice.vendor, Invoice.contract_number, Invoice.reference_month,
            func.coalesce(BoletoRow.amount_cents, Invoice.net_cents), Invoice.verdict,
            Invoice.nfse_number, Invoice.paid_at, InvoiceDecision.decision)
    found = {r[0]: r for r in s.exec(
        select(*cols).select_from(Invoice)
        .outerjoin(BoletoRow, BoletoRow.invoice_id == Invoice.id)
        .outerjoin(InvoiceDecision, InvoiceDecision.invoice_id == Invoice.id)
        .where(Invoice.id.in_(list(due_of_id)))).all()} if due_of_id else {}
    rows = []
    for inv_id, due in due_of_id.items():
        r = found[inv_id]
        rows.append(BillRow(r[0], r[1], r[2], r[3], due, r[4], r[5], r[6], r[7], r[8],
                            bucket=bucket_of(due, today)))
    counts = bucket_counts(s, f, today)
    total = counts[f.bucket] if f.bucket else sum(counts.values())
    return BillPage(rows, counts, total, page, size)


def _where_plain(stmt, f: Filters):
    # _where without the rejected-bills exclusion (bucket_counts subtracts them instead).
    stmt = stmt.where(Invoice.paid_at.is_not(None) if f.paid else Invoice.paid_at.is_(None))
    if f.verdict:
        stmt = stmt.where(Invoice.verdict == f.verdict)
    if f.vendor:
        stmt = stmt.where(Invoice.vendor == f.vendor)
    if f.month:
        stmt = stmt.where(Invoice.reference_month == f.month)
    return stmt


def bucket_counts(s: Session, f: Filters, today: date) -> dict[str, int]:
    """How many bills each due bucket holds under the filters.

    The dated bills are counted from ix_invoice_open_due alone (one pass over the index, no
    per-bill look-up); the undated ones, few, with their boleto's date; rejected bills, few,
    are then taken away.
    """
    end = week_end(today)
    counts = dict.fromkeys(BUCKETS, 0)

    def bucket(due):
        return case((due.is_(None), "none"), (due < today, "overdue"), (due <= end, "week"),
                    else_="later")

    # Range counts, in one statement: each walks a stretch of the index and nothing else.
    ranges = {"overdue": Invoice.due_date < today,
              "week": Invoice.due_date.between(today, end), "later": Invoice.due_date > end}
    row = s.exec(select(*[_where_plain(select(func.count()).select_from(Invoice), f)
                          .where(window).scalar_subquery() for window in ranges.values()])).one()
    for name, n in zip(ranges, row, strict=True):
        counts[name] += int(n)
    due = _due_expr()
    undated = bucket(due)
    for name, n in s.exec(_where(select(undated, func.count()).select_from(Invoice), f)
                          .where(Invoice.due_date.is_(None)).group_by(undated)).all():
        counts[name] += int(n)
    if not f.paid:
        dated = bucket(Invoice.due_date)
        for name, n in s.exec(_where_plain(select(dated, func.count())
                                           .select_from(InvoiceDecision)
                                           .join(Invoice, Invoice.id == InvoiceDecision.invoice_id),
                                           f)
                              .where(InvoiceDecision.decision == "rejected",
                                     Invoice.due_date.is_not(None))
                              .group_by(dated)).all():
            counts[name] -= int(n)
    return counts


def vendors(s: Session) -> list[str]:
    """Vendors with stored bills (the filter's choices)."""
    return list(s.exec(select(Invoice.vendor).distinct().order_by(Invoice.vendor)).all())


@dataclass
class CheckLine:
    """One check for people: what it compares in pt-BR, the outcome in words, the detail."""

    name: str
    meaning: str
    outcome: str
    words: str
    detail: str
    forgery_grade: bool


@dataclass
class Bill:
    """Everything the bill page shows."""

    invoice: Invoice
    message: Message | None
    boleto: BoletoRow | None
    documents: list[Document]
    checks: list[CheckLine]
    verification_link: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckLine]:
        return [c for c in self.checks if c.outcome == Outcome.FAIL]

    @property
    def unchecked(self) -> list[CheckLine]:
        return [c for c in self.checks if c.outcome in (Outcome.UNKNOWN, Outcome.SKIPPED)]

    @property
    def passed(self) -> list[CheckLine]:
        return [c for c in self.checks if c.outcome == Outcome.PASS]


def bill(s: Session, invoice_id: int) -> Bill | None:
    """One bill with its message, boleto, documents, checks (failed first) and issuer link."""
    inv = s.get(Invoice, invoice_id)
    if inv is None:
        return None
    msg = s.get(Message, inv.message_id)
    boleto = s.exec(select(BoletoRow).where(BoletoRow.invoice_id == inv.id)).first()
    docs = list(s.exec(select(Document).where(Document.message_id == inv.message_id)
                       .order_by(Document.id)).all())
    rank = {Outcome.FAIL: 0, Outcome.UNKNOWN: 1, Outcome.SKIPPED: 2, Outcome.PASS: 3}
    rows = s.exec(select(CheckRow).where(CheckRow.invoice_id == inv.id)).all()
    checks = [CheckLine(c.name, render.meaning(c.name), c.outcome,
                        render.outcome_word(c.outcome), c.detail,
                        c.name in FORGERY_GRADE)
              for c in sorted(rows, key=lambda c: (rank.get(c.outcome, 9), order_key(c.name)))]
    link = s.exec(select(Verification.link).where(
        Verification.invoice_id == inv.id, Verification.link.is_not(None))).first()
    reason = verdict_reason(inv.verdict, rows)
    return Bill(inv, msg, boleto, docs, checks, link, [reason[:1].upper() + reason[1:] + "."])


def document(s: Session, invoice_id: int, document_id: int) -> Document | None:
    """A document of this bill's message (another bill's document is not found)."""
    inv = s.get(Invoice, invoice_id)
    doc = s.get(Document, document_id)
    if inv is None or doc is None or doc.message_id != inv.message_id:
        return None
    return doc


def quarantined(s: Session, page: int = 1, size: int = 50) -> tuple[list[Message], int]:
    """Quarantined messages, newest first, and how many there are."""
    where = Message.status == MessageStatus.QUARANTINED
    total = s.exec(select(func.count()).select_from(Message).where(where)).one()
    rows = s.exec(select(Message).where(where).order_by(Message.id.desc())
                  .offset((max(1, page) - 1) * size).limit(size)).all()
    return list(rows), int(total)


def alerts(s: Session, page: int = 1, size: int = 50) -> tuple[list[Alert], int]:
    """The alert outbox, newest first, and its size."""
    total = s.exec(select(func.count()).select_from(Alert)).one()
    rows = s.exec(select(Alert).order_by(Alert.id.desc())
                  .offset((max(1, page) - 1) * size).limit(size)).all()
    return list(rows), int(total)


EXTRA_KINDS = {"issuer_xml": "nota no emissor (XML)", "payment_proof": "comprovante de pagamento"}


def extra_files(s: Session, invoice_id: int) -> list[tuple[int, Any, str]]:
    """(number, file, pt-BR label) of a bill's files beyond the email's own documents."""
    from pipeline.desk.files import stored_files

    return [(n, f, EXTRA_KINDS[f.kind]) for n, f in enumerate(stored_files(s, invoice_id))
            if f.kind in EXTRA_KINDS]


def extra_file(s: Session, invoice_id: int, number: int) -> Any:
    """One of extra_files by its number (None: no such file)."""
    return next((f for n, f, _label in extra_files(s, invoice_id) if n == number), None)
