"""The desk's decisions, through the workflow service shared with the CLI (pipeline.desk)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from pipeline.vocabulary import Verdict
from storage import Invoice

# Action names as pipeline.desk.roles.can knows them, with the pt-BR words of the desk.
LABELS = {"approve": "Aprovar", "reject": "Rejeitar", "mark_paid": "Marcar como paga",
          "undo": "Desfazer", "override_block": "Liberar apesar do bloqueio",
          "recheck": "Conferir de novo"}
DONE = {"approve": "Fatura aprovada.", "reject": "Fatura rejeitada.",
        "mark_paid": "Pagamento registrado.", "undo": "Decisão desfeita.",
        "override_block": "Bloqueio liberado.", "recheck": "Fatura conferida de novo."}
PATHS = {"approve": "aprovar", "reject": "rejeitar", "mark_paid": "pagar", "undo": "desfazer",
         "override_block": "liberar", "recheck": "reverificar"}


@dataclass(frozen=True)
class FormSpec:
    """One decision form on the bill page."""

    action: str
    label: str
    path: str
    needs_reason: bool = True
    needs_date: bool = False
    needs_confirmation: bool = False


def _decision(s: Session, inv: Invoice) -> str | None:
    """The bill's workflow state as pipeline.desk stores it (None: nobody decided)."""
    value = getattr(inv, "status", None)
    return str(value) if value else None


def state_of(s: Session, inv: Invoice) -> str:
    """The bill's state in pt-BR words for the banner."""
    if inv.paid_at is not None:
        return "paga"
    words = {"approved": "aprovada", "rejected": "rejeitada", "overridden": "liberada"}
    decision = _decision(s, inv)
    return words.get(decision or "", "aguardando decisão" if inv.verdict == Verdict.REVIEW
                     else "em aberto")


def fit_to_pay(s: Session, inv: Invoice) -> bool:
    """Show the payment block only for a bill that may be paid and is not paid yet."""
    if inv.paid_at is not None:
        return False
    decision = _decision(s, inv)
    if decision == "rejected":
        return False
    return inv.verdict == Verdict.OK or decision in ("approved", "overridden")


def forms_for(s: Session, actor: Any, inv: Invoice) -> list[FormSpec]:
    """The decisions this actor may take on this bill now."""
    from pipeline.desk.roles import can

    decision = _decision(s, inv)
    wanted: list[FormSpec] = []
    if inv.verdict == Verdict.REVIEW and decision is None and inv.paid_at is None:
        wanted.append(FormSpec("approve", LABELS["approve"], PATHS["approve"]))
    if decision is None and inv.paid_at is None:
        wanted.append(FormSpec("reject", LABELS["reject"], PATHS["reject"]))
    if inv.verdict == Verdict.BLOCK and decision is None and inv.paid_at is None:
        wanted.append(FormSpec("override_block", LABELS["override_block"],
                               PATHS["override_block"], needs_confirmation=True))
    if fit_to_pay(s, inv):
        wanted.append(FormSpec("mark_paid", LABELS["mark_paid"], PATHS["mark_paid"],
                               needs_reason=False, needs_date=True))
    if decision is not None or inv.paid_at is not None:
        wanted.append(FormSpec("undo", LABELS["undo"], PATHS["undo"]))
    wanted.append(FormSpec("recheck", LABELS["recheck"], PATHS["recheck"], needs_reason=False))
    return [f for f in wanted if can(actor, f.action)]


def perform(s: Session, actor: Any, action: str, invoice_id: int, form: Any) -> str:
    """Run one decision through pipeline.desk.workflow; the pt-BR line to flash."""
    from parsers.errors import ConfereError
    from pipeline.desk import workflow

    reason = str(form.get("reason") or "").strip()
    try:
        if action == "mark_paid":
            raw = str(form.get("paid_on") or "")
            paid_on = date.fromisoformat(raw) if raw else None
            workflow.mark_paid(s, invoice_id, actor, reason=reason or None, paid_on=paid_on)
        elif action == "override_block":
            if form.get("confirm") != "sim":
                return "Confirme a liberação marcando a caixa de confirmação."
            workflow.override_block(s, invoice_id, actor, reason)
        elif action == "recheck":
            workflow.recheck(s, invoice_id, actor)
        else:
            getattr(workflow, action)(s, invoice_id, actor, reason)
    except ValueError:
        return "Data inválida."
    except ConfereError as exc:
        return f"Não foi possível: {exc}"
    return DONE[action]


AUDIT_FIELDS = ("id", "at", "actor", "role", "source", "action", "invoice_id", "reason",
                "before", "after")
ACTION_WORDS = {"approve": "aprovou", "reject": "rejeitou", "mark_paid": "marcou como paga",
                "undo": "desfez", "override_block": "liberou o bloqueio",
                "recheck": "conferiu de novo"}


def history(s: Session, invoice_id: int | None, limit: int = 100) -> list[dict[str, Any]]:
    """The audit log's entries, newest first (of one bill, or of all), as plain dicts."""
    from pipeline.desk import audit

    out = []
    for e in audit.entries(s, invoice_id=invoice_id, limit=limit):
        row = {k: getattr(e, k, None) for k in AUDIT_FIELDS}
        if row["at"] is None:
            row["at"] = getattr(e, "created_at", None)
        row["words"] = ACTION_WORDS.get(str(row["action"]), str(row["action"]))
        out.append(row)
    return out


def retry_available() -> bool:
    """Whether the quarantine retry service (issue 14) is installed."""
    return False
