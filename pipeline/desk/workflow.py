"""Deciding about bills: approve, reject, override a block, mark paid, undo, re-judge.

Each function takes a session, checks the actor's role (NotAllowed) and the bill's state
(WorkflowError), makes its change plus one audit entry, and leaves the commit to the caller.

A bill has two independent facts:
- its verdict (ok / review / block), the machine's, on `invoices.verdict`;
- its decision state, what people did, from `invoice_decisions` and `invoices.paid_at`:
  `open` (nobody decided), `approved` (a review bill a person cleared), `rejected` (not to be
  paid), `overridden` (a block bill an admin cleared), `paid` (paid, whatever came before).
A bill is fit to pay when it is not paid nor rejected and its verdict is ok, or it was
approved (and is not block since), or overridden.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from parsers.errors import NotAllowed, WorkflowError
from pipeline.desk import audit
from pipeline.desk.roles import Action, Actor, can
from pipeline.vocabulary import Outcome, Verdict
from storage import (
    BlobStore,
    BoletoRow,
    CheckRow,
    Invoice,
    InvoiceDecision,
    LearnedBank,
    Message,
    utcnow,
)

if TYPE_CHECKING:
    from pipeline.config.settings import Config
    from pipeline.ingest.sandbox import Sandbox

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
BANK_CHECK = "boleto.bank_allowed"
MAX_REASON = 2000
log = logging.getLogger("confere.desk")


class DecisionState(StrEnum):
    """What people did about a bill (see the module's docstring)."""

    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    OVERRIDDEN = "overridden"
    PAID = "paid"


# --- reading the state -----------------------------------------------------------------------
def decision_state(inv: Invoice, decision: InvoiceDecision | None = None) -> DecisionState:
    """The bill's decision state from its row and its decision row (None: no decision yet)."""
    if inv.paid_at is not None:
        return DecisionState.PAID
    if decision is not None and decision.decision:
        return DecisionState(decision.decision)
    return DecisionState.OPEN


def fit_to_pay(inv: Invoice, decision: InvoiceDecision | None = None) -> bool:
    """Whether the bill may be paid now (the payment block is shown only then)."""
    state = decision_state(inv, decision)
    if state in (DecisionState.PAID, DecisionState.REJECTED):
        return False
    if state == DecisionState.OVERRIDDEN:
        return True
    if inv.verdict == Verdict.BLOCK:
        return False
    return state == DecisionState.APPROVED or inv.verdict == Verdict.OK


def decision_of(s: Session, invoice_id: int) -> InvoiceDecision | None:
    """The decision row of one bill, if anyone ever decided or paid it."""
    return s.exec(select(InvoiceDecision).where(InvoiceDecision.invoice_id == invoice_id)).first()


def decisions_for(s: Session, invoice_ids: list[int]) -> dict[int, InvoiceDecision]:
    """Decision rows of many bills at once (listings), by invoice id."""
    out: dict[int, InvoiceDecision] = {}
    for start in range(0, len(invoice_ids), 500):
        chunk = invoice_ids[start:start + 500]
        for d in s.exec(select(InvoiceDecision)
                        .where(col(InvoiceDecision.invoice_id).in_(chunk))).all():
            out[d.invoice_id] = d
    return out


def state_of(s: Session, inv: Invoice) -> DecisionState:
    """decision_state, reading the decision row."""
    assert inv.id is not None
    return decision_state(inv, decision_of(s, inv.id))


def paid_on(inv: Invoice, decision: InvoiceDecision | None = None) -> date | None:
    """The payment date: as recorded by the desk, else the day of `paid_at` in Sao Paulo."""
    if inv.paid_at is None:
        return None
    if decision is not None and decision.paid_on is not None:
        return decision.paid_on
    return inv.paid_at.astimezone(SAO_PAULO).date()


def snapshot(inv: Invoice, decision: InvoiceDecision | None) -> dict[str, Any]:
    """What the audit log keeps as `before` / `after` for a bill."""
    day = paid_on(inv, decision)
    return {"verdict": str(inv.verdict), "state": str(decision_state(inv, decision)),
            "paid_on": day.isoformat() if day else None}


# --- guards ----------------------------------------------------------------------------------
def _require(actor: Actor, action: Action) -> None:
    if not can(actor, action):
        raise NotAllowed(f"{actor.name} ({actor.role}) may not {action}", "not_allowed")


def _reason(reason: str | None) -> str:
    """The reason as given, without control characters (a terminal escape stays out of logs)."""
    text = "".join(ch for ch in (reason or "") if ch.isprintable() or ch in "\n\t").strip()
    if not text:
        raise WorkflowError("a reason is required", "reason_required")
    if len(text) > MAX_REASON:
        raise WorkflowError(f"the reason is longer than {MAX_REASON} characters", "reason_too_long")
    return text


def _load(s: Session, invoice_id: int) -> tuple[Invoice, InvoiceDecision]:
    """The bill, locked until the caller commits (PostgreSQL: two people deciding at once
    take turns, and the second sees the first's decision), and its decision row."""
    inv = s.get(Invoice, invoice_id, with_for_update=True, populate_existing=True)
    if inv is None:
        raise WorkflowError(f"no invoice #{invoice_id}", "not_found")
    decision = decision_of(s, invoice_id) or InvoiceDecision(invoice_id=invoice_id)
    return inv, decision


def _must_be_open(inv: Invoice, decision: InvoiceDecision) -> None:
    state = decision_state(inv, decision)
    if state == DecisionState.PAID:
        raise WorkflowError(f"invoice #{inv.id} is already paid", "already_paid")
    if state != DecisionState.OPEN:
        raise WorkflowError(f"invoice #{inv.id} is already {state}: undo that first",
                            "already_decided")


def _decide(s: Session, decision: InvoiceDecision, state: DecisionState | None, actor: Actor,
            reason: str | None) -> None:
    now = utcnow()
    decision.decision = str(state) if state else None
    decision.decided_by = actor.name if state else None
    decision.decided_at = now if state else None
    decision.reason = reason if state else None
    decision.updated_at = now
    s.add(decision)


# --- the actions -----------------------------------------------------------------------------
def approve(s: Session, invoice_id: int, actor: Actor, reason: str) -> Invoice:
    """A `review` bill becomes approved; an unseen bank on it is learned for the vendor."""
    _require(actor, Action.APPROVE)
    reason = _reason(reason)
    inv, decision = _load(s, invoice_id)
    _must_be_open(inv, decision)
    if inv.verdict == Verdict.BLOCK:
        raise WorkflowError(f"invoice #{invoice_id} is blocked (signs of forgery): only an "
                            "admin can override it", "blocked")
    if inv.verdict != Verdict.REVIEW:
        raise WorkflowError(f"invoice #{invoice_id} is {inv.verdict}: there is nothing to "
                            "approve", "not_review")
    before = snapshot(inv, decision)
    _decide(s, decision, DecisionState.APPROVED, actor, reason)
    after = snapshot(inv, decision)
    taught = _learn_bank(s, inv, actor)
    if taught:
        after["learned_bank"] = taught
    if taught:  # bills already stored that waited on the same bank are judged with it now
        cleared = _vouch_for_bank(s, inv, taught, actor)
        if cleared:
            after["rechecked"] = cleared
    # Recorded after its consequences, so the approval itself heads the log (newest first).
    audit.record(s, actor, Action.APPROVE, invoice_id, before, after, reason)
    return inv


def reject(s: Session, invoice_id: int, actor: Actor, reason: str) -> Invoice:
    """Any open bill becomes rejected: not to be paid."""
    _require(actor, Action.REJECT)
    reason = _reason(reason)
    inv, decision = _load(s, invoice_id)
    _must_be_open(inv, decision)
    before = snapshot(inv, decision)
    _decide(s, decision, DecisionState.REJECTED, actor, reason)
    audit.record(s, actor, Action.REJECT, invoice_id, before, snapshot(inv, decision), reason)
    return inv


def override_block(s: Session, invoice_id: int, actor: Actor, reason: str,
                   confirm: bool) -> Invoice:
    """An admin clears a `block` bill for payment; needs a reason and confirm=True."""
    _require(actor, Action.OVERRIDE)
    reason = _reason(reason)
    if confirm is not True:
        raise WorkflowError("overriding a block needs a second confirmation", "confirm_required")
    inv, decision = _load(s, invoice_id)
    _must_be_open(inv, decision)
    if inv.verdict != Verdict.BLOCK:
        raise WorkflowError(f"invoice #{invoice_id} is {inv.verdict}, not block: approve it "
                            "instead", "not_blocked")
    before = snapshot(inv, decision)
    _decide(s, decision, DecisionState.OVERRIDDEN, actor, reason)
    audit.record(s, actor, Action.OVERRIDE, invoice_id, before, snapshot(inv, decision), reason)
    return inv


def mark_paid(s: Session, invoice_id: int, actor: Actor, paid_on: date,
              proof: bytes | None = None, proof_name: str | None = None,
              blobs: BlobStore | None = None, reason: str | None = None) -> Invoice:
    """Record the payment of a bill fit to pay, on a date, with an optional proof file."""
    _require(actor, Action.PAY)
    inv, decision = _load(s, invoice_id)
    if not fit_to_pay(inv, decision):
        state = decision_state(inv, decision)
        code = {DecisionState.PAID: "already_paid", DecisionState.REJECTED: "rejected"}.get(
            state, "blocked" if inv.verdict == Verdict.BLOCK else "needs_approval")
        why = {"already_paid": "is already paid", "rejected": "was rejected",
               "blocked": "is blocked (signs of forgery)",
               "needs_approval": "needs a person's approval first"}[code]
        raise WorkflowError(f"invoice #{invoice_id} {why}", code)
    today = datetime.now(SAO_PAULO).date()
    if paid_on > today + timedelta(days=1):
        raise WorkflowError(f"the payment date {paid_on} is in the future", "future_date")
    before = snapshot(inv, decision)
    if proof is not None:
        if blobs is None:
            raise WorkflowError("a proof file needs the blob store", "no_blob_store")
        decision.proof_sha256 = blobs.put(proof)
        decision.proof_name = _safe_name(proof_name) or "comprovante"
    inv.paid_at = datetime.combine(paid_on, time(12), SAO_PAULO).astimezone(UTC)
    decision.paid_on, decision.paid_by, decision.updated_at = paid_on, actor.name, utcnow()
    s.add(inv)
    s.add(decision)
    after = snapshot(inv, decision)
    if decision.proof_sha256 and proof is not None:
        after["proof"] = {"name": decision.proof_name, "sha256": decision.proof_sha256}
    audit.record(s, actor, Action.PAY, invoice_id, before, after,
                 (reason or "").strip() or None)
    return inv


def undo(s: Session, invoice_id: int, actor: Actor, reason: str) -> Invoice:
    """Undo the last thing done to a bill: its payment if paid, else its decision."""
    _require(actor, Action.UNDO)
    reason = _reason(reason)
    inv, decision = _load(s, invoice_id)
    before = snapshot(inv, decision)
    after_extra: dict[str, Any] = {}
    if inv.paid_at is not None:
        inv.paid_at = None
        decision.paid_on = decision.paid_by = None
        decision.proof_sha256 = decision.proof_name = None
        decision.updated_at = utcnow()
        s.add(inv)
        s.add(decision)
        what = "payment"
    elif decision.decision:
        if decision.decision == DecisionState.OVERRIDDEN and not can(actor, Action.OVERRIDE):
            raise NotAllowed(f"{actor.name} ({actor.role}) may not undo an admin's override",
                             "not_allowed")
        what = decision.decision
        if decision.decision == DecisionState.APPROVED:
            forgotten = _forget_banks(s, invoice_id)
            if forgotten:
                after_extra["forgot_banks"] = forgotten
                _withdraw_vouch(s, inv, actor)
        _decide(s, decision, None, actor, None)
    else:
        raise WorkflowError(f"invoice #{invoice_id} has nothing to undo", "nothing_to_undo")
    after = {**snapshot(inv, decision), "undid": what, **after_extra}
    audit.record(s, actor, Action.UNDO, invoice_id, before, after, reason)
    return inv


# --- banks people confirmed ------------------------------------------------------------------
def _learn_bank(s: Session, inv: Invoice, actor: Actor) -> str | None:
    """When the bill's open question was an unseen bank, trust that bank for the vendor."""
    check = s.exec(select(CheckRow).where(CheckRow.invoice_id == inv.id,
                                          CheckRow.name == BANK_CHECK)).first()
    if check is None or check.outcome != Outcome.UNKNOWN:
        return None
    boleto = s.exec(select(BoletoRow).where(BoletoRow.invoice_id == inv.id)).first()
    if boleto is None:
        return None
    known = s.exec(select(LearnedBank).where(LearnedBank.vendor == inv.vendor,
                                             LearnedBank.bank_code == boleto.bank_code)).first()
    if known is None:
        s.add(LearnedBank(vendor=inv.vendor, bank_code=boleto.bank_code, invoice_id=inv.id,
                          learned_by=actor.name))
    return boleto.bank_code


def _forget_banks(s: Session, invoice_id: int) -> list[str]:
    """Banks learned from this bill's approval, removed when the approval is undone."""
    rows = s.exec(select(LearnedBank).where(LearnedBank.invoice_id == invoice_id)).all()
    for row in rows:
        s.delete(row)
    return [r.bank_code for r in rows]


def _vouched(invoice_id: int) -> str:
    return f"approving invoice #{invoice_id}"


def _vouch_for_bank(s: Session, inv: Invoice, bank: str, actor: Actor) -> list[int]:
    """Unpaid bills of the vendor whose bank check waited on this bank: it passes now."""
    from pipeline.checks.record import record_checks
    from pipeline.checks.vocabulary import Check

    s.flush()
    waiting = s.exec(
        select(Invoice).join(CheckRow, col(CheckRow.invoice_id) == Invoice.id)
        .join(BoletoRow, col(BoletoRow.invoice_id) == Invoice.id)
        .where(Invoice.vendor == inv.vendor, Invoice.id != inv.id,
               col(Invoice.paid_at).is_(None), BoletoRow.bank_code == bank,
               CheckRow.name == BANK_CHECK, CheckRow.outcome == Outcome.UNKNOWN)
        .order_by(col(Invoice.id))).all()
    for other in waiting:
        old = str(other.verdict)
        new = record_checks(s, other, [Check(
            BANK_CHECK, Outcome.PASS, f"bank {bank} was confirmed for {inv.vendor} by "
            f"{actor.name} {_vouched(inv.id)}")])  # type: ignore[arg-type]
        audit.record(s, actor, Action.RECHECK, other.id,
                     {"verdict": old, "checks": {BANK_CHECK: "unknown"}},
                     {"verdict": str(new), "checks": {BANK_CHECK: "pass"},
                      "learned_from": inv.id}, None)
    return [o.id for o in waiting]  # type: ignore[misc]


def _withdraw_vouch(s: Session, inv: Invoice, actor: Actor) -> None:
    """Undoing the approval: the bank checks it passed on other bills wait on a person again."""
    from pipeline.checks.record import record_checks
    from pipeline.checks.vocabulary import Check

    rows = s.exec(select(CheckRow).where(
        CheckRow.name == BANK_CHECK, CheckRow.outcome == Outcome.PASS,
        col(CheckRow.detail).endswith(_vouched(inv.id)))).all()  # type: ignore[arg-type]
    for row in rows:
        other = s.get(Invoice, row.invoice_id)
        if other is None or other.paid_at is not None:
            continue
        bank = row.detail.split()[1]
        old = str(other.verdict)
        new = record_checks(s, other, [Check(
            BANK_CHECK, Outcome.UNKNOWN, f"bank {bank} is no longer confirmed for "
            f"{inv.vendor} (the approval of invoice #{inv.id} was undone): confirm it, then "
            "approve a bill from it or add it to the vendor's banks")])
        audit.record(s, actor, Action.RECHECK, other.id,
                     {"verdict": old, "checks": {BANK_CHECK: "pass"}},
                     {"verdict": str(new), "checks": {BANK_CHECK: "unknown"},
                      "unlearned_from": inv.id}, None)


def learned_banks(s: Session, vendor: str | None = None) -> list[LearnedBank]:
    """Banks people confirmed, per vendor."""
    query = select(LearnedBank).order_by(LearnedBank.vendor, LearnedBank.bank_code)
    if vendor is not None:
        query = query.where(LearnedBank.vendor == vendor)
    return list(s.exec(query).all())


def _safe_name(name: str | None) -> str | None:
    """A file name without folders or control characters, at most 200 characters."""
    if not name:
        return None
    base = PurePath(name.replace("\\", "/")).name
    clean = "".join(ch for ch in base if ch.isprintable()).strip()
    return clean[:200] or None


# --- re-judging stored bills -----------------------------------------------------------------
@dataclass(frozen=True)
class Rechecked:
    """One bill re-judged: its verdict before and after."""

    invoice_id: int
    old: str
    new: str


def recheck(s: Session, config: Config, invoice_ids: list[int] | None, actor: Actor, *,
            sandbox: Sandbox | None = None) -> list[tuple[int, str, str]]:
    """Re-judge stored bills from their stored raw message against the current configuration.

    invoice_ids None: every bill. Returns (id, old verdict, new verdict) for each bill judged;
    a bill whose raw message is missing, no longer parses or whose vendor is no longer
    configured keeps its verdict and is logged. sandbox: parse in its worker processes (with
    its limits) instead of in this process. Bills whose verdict or checks changed get an
    audit entry each; the caller commits.
    """
    _require(actor, Action.RECHECK)
    from pipeline.ingest.sandbox import Failed

    if invoice_ids is None:
        invoice_ids = list(s.exec(select(Invoice.id).order_by(Invoice.id)).all())  # type: ignore[arg-type]
    out: list[tuple[int, str, str]] = []
    for inv, parsed in _parsed_bills(s, config, invoice_ids, sandbox):
        if parsed is None or isinstance(parsed, Failed):
            why = parsed.reason if isinstance(parsed, Failed) else "raw message missing"
            log.warning("invoice #%s cannot be re-judged: %s", inv.id, why)
            out.append((inv.id, inv.verdict, inv.verdict))  # type: ignore[arg-type]
            continue
        result = _rejudge(s, config, inv, parsed, actor)
        out.append((result.invoice_id, result.old, result.new))
    return out


def _parsed_bills(s: Session, config: Config, invoice_ids: list[int],
                  sandbox: Sandbox | None) -> Iterator[tuple[Invoice, Any]]:
    """Each bill with its stored message parsed again (None: the raw bytes are gone)."""
    from pipeline.ingest.sandbox import parse_inline

    blobs = BlobStore(config.blob_dir)
    limit = config.settings.limits.max_attachment_bytes

    def raws() -> Iterator[tuple[Invoice, bytes | None]]:
        for invoice_id in invoice_ids:
            inv = s.get(Invoice, invoice_id)
            if inv is None:
                raise WorkflowError(f"no invoice #{invoice_id}", "not_found")
            msg = s.get(Message, inv.message_id)
            try:
                raw = blobs.get(msg.sha256) if msg is not None else None
            except (OSError, KeyError, ValueError):
                raw = None
            yield inv, raw

    if sandbox is not None:
        for inv, outcome in sandbox.map(raws()):
            yield inv, outcome  # type: ignore[misc]
        return
    for inv, raw in raws():
        yield inv, (parse_inline(raw, limit) if raw is not None else None)


def _rejudge(s: Session, config: Config, inv: Invoice, m: Any, actor: Actor) -> Rechecked:
    """Run every stage's checks on one stored bill again and record them."""
    from pipeline.checks.issuer import authenticity_checks
    from pipeline.checks.offline import offline_checks
    from pipeline.checks.record import record_checks
    from pipeline.costs.reconcile import reconcile_check
    from pipeline.ingest.ingestor import bill_context, find_fields
    from pipeline.notify.rules import enqueue_bill_alerts

    vendor = config.vendors.get(inv.vendor)
    if vendor is None:
        log.warning("invoice #%s: vendor %s is no longer configured", inv.id, inv.vendor)
        return Rechecked(inv.id, inv.verdict, inv.verdict)  # type: ignore[arg-type]
    old_checks = {c.name: c.outcome for c in s.exec(
        select(CheckRow).where(CheckRow.invoice_id == inv.id)).all()}
    old = str(inv.verdict)
    fields = find_fields(m, vendor)
    filled = {}
    for key in ("contract_number", "reference_month", "due_date"):  # newly configured wordings
        value = getattr(fields, key)
        if value is not None and getattr(inv, key) is None:
            setattr(inv, key, value)
            filled[key] = value
    with s.no_autoflush:
        checks = offline_checks(m, fields, bill_context(s, config, vendor, exclude_invoice=inv.id))
        checks += authenticity_checks(s, inv, m, config)
        checks.append(reconcile_check(s, inv, config))
    new = str(record_checks(s, inv, checks))
    changed = {c.name: (old_checks.get(c.name), str(c.outcome)) for c in checks
               if old_checks.get(c.name) != c.outcome}
    if new != old or changed or filled:
        audit.record(s, actor, Action.RECHECK, inv.id,
                     {"verdict": old, "checks": {k: v[0] for k, v in changed.items()}},
                     {"verdict": new, "checks": {k: v[1] for k, v in changed.items()},
                      **({"filled": filled} if filled else {})}, None)
        if new != old:
            s.flush()
            enqueue_bill_alerts(s, inv, config)
    return Rechecked(inv.id, old, new)  # type: ignore[arg-type]
