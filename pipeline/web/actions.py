"""The desk's decisions, through the workflow service shared with the CLI (pipeline.desk)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from pipeline.desk import audit, workflow
from pipeline.desk.explain import STATE_WORDS
from pipeline.desk.roles import Action, can
from pipeline.desk.workflow import DecisionState
from pipeline.vocabulary import Verdict
from storage import BlobStore, Invoice

LABELS = {Action.APPROVE: "Aprovar", Action.REJECT: "Rejeitar", Action.PAY: "Marcar como paga",
          Action.UNDO: "Desfazer", Action.OVERRIDE: "Liberar apesar do bloqueio",
          Action.RECHECK: "Conferir de novo"}
DONE = {Action.APPROVE: "Fatura aprovada.", Action.REJECT: "Fatura rejeitada.",
        Action.PAY: "Pagamento registrado.", Action.UNDO: "Decisão desfeita.",
        Action.OVERRIDE: "Bloqueio liberado.", Action.RECHECK: "Fatura conferida de novo."}
PATHS = {Action.APPROVE: "aprovar", Action.REJECT: "rejeitar", Action.PAY: "pagar",
         Action.UNDO: "desfazer", Action.OVERRIDE: "liberar", Action.RECHECK: "reverificar"}
# The workflow's error codes in pt-BR (the English message is shown for any other).
ERROR_WORDS = {
    "reason_required": "informe o motivo", "reason_too_long": "o motivo é longo demais",
    "already_paid": "a fatura já está paga", "already_decided": "a fatura já tem decisão: "
    "desfaça-a antes", "blocked": "a fatura está bloqueada (sinais de fraude): só um admin "
    "pode liberá-la", "not_review": "a fatura não precisa de aprovação",
    "confirm_required": "confirme a liberação marcando a caixa", "not_blocked":
    "a fatura não está bloqueada: aprove-a", "rejected": "a fatura foi rejeitada",
    "needs_approval": "a fatura precisa ser aprovada antes", "future_date":
    "a data de pagamento está no futuro", "not_found": "fatura não encontrada",
    "not_allowed": "o seu papel não permite esta ação", "nothing_to_undo": "não há o que desfazer"}


@dataclass(frozen=True)
class FormSpec:
    """One decision form on the bill page."""

    action: str
    label: str
    path: str
    needs_reason: bool = True
    needs_date: bool = False
    needs_confirmation: bool = False


def state_of(s: Session, inv: Invoice) -> DecisionState:
    """What people did about the bill."""
    return workflow.state_of(s, inv)


def decision_of(s: Session, invoice_id: int) -> Any:
    """The bill's decision row (who decided, when, why), if any."""
    return workflow.decision_of(s, invoice_id)


def fit_to_pay(s: Session, inv: Invoice) -> bool:
    """Show the payment block only for a bill that may be paid and is not paid yet."""
    assert inv.id is not None
    return workflow.fit_to_pay(inv, workflow.decision_of(s, inv.id))


def forms_for(s: Session, actor: Any, inv: Invoice) -> list[FormSpec]:
    """The decisions this actor may take on this bill now."""
    state = state_of(s, inv)
    wanted: list[FormSpec] = []
    if state == DecisionState.OPEN:
        if inv.verdict == Verdict.REVIEW:
            wanted.append(FormSpec(Action.APPROVE, LABELS[Action.APPROVE], PATHS[Action.APPROVE]))
        if inv.verdict == Verdict.BLOCK:
            wanted.append(FormSpec(Action.OVERRIDE, LABELS[Action.OVERRIDE],
                                   PATHS[Action.OVERRIDE], needs_confirmation=True))
        wanted.append(FormSpec(Action.REJECT, LABELS[Action.REJECT], PATHS[Action.REJECT]))
    if fit_to_pay(s, inv):
        wanted.append(FormSpec(Action.PAY, LABELS[Action.PAY], PATHS[Action.PAY],
                               needs_reason=False, needs_date=True))
    if state != DecisionState.OPEN:
        wanted.append(FormSpec(Action.UNDO, LABELS[Action.UNDO], PATHS[Action.UNDO]))
    wanted.append(FormSpec(Action.RECHECK, LABELS[Action.RECHECK], PATHS[Action.RECHECK],
                           needs_reason=False))
    return [f for f in wanted if can(actor, f.action)]


def run(s: Session, config: Any, actor: Any, action: str, invoice_id: int,
        values: dict[str, Any]) -> None:
    """One decision through pipeline.desk.workflow, committed with its audit entry."""
    reason = str(values.get("reason") or "")
    if action == Action.PAY:
        proof = values.get("proof")
        workflow.mark_paid(s, invoice_id, actor, values["paid_on"],
                           proof=proof, proof_name=values.get("proof_name"),
                           blobs=BlobStore(config.blob_dir) if proof else None,
                           reason=reason or None)
    elif action == Action.OVERRIDE:
        workflow.override_block(s, invoice_id, actor, reason, values.get("confirm") is True)
    elif action == Action.RECHECK:
        if s.get(Invoice, invoice_id) is None:
            from parsers.errors import WorkflowError

            raise WorkflowError(f"no invoice #{invoice_id}", "not_found")
        workflow.recheck(s, config, [invoice_id], actor)
    else:
        {Action.APPROVE: workflow.approve, Action.REJECT: workflow.reject,
         Action.UNDO: workflow.undo}[Action(action)](s, invoice_id, actor, reason)
    s.commit()


async def perform(s: Session, config: Any, actor: Any, action: str, invoice_id: int,
                  form: Any) -> str:
    """A form's decision; the pt-BR line to flash."""
    from parsers.errors import DeskError

    values: dict[str, Any] = {"reason": str(form.get("reason") or ""),
                              "confirm": form.get("confirm") == "sim"}
    if action == Action.PAY:
        try:
            values["paid_on"] = date.fromisoformat(str(form.get("paid_on") or ""))
        except ValueError:
            return "Não foi possível: data de pagamento inválida."
        upload = form.get("proof")
        if upload is not None and hasattr(upload, "read"):
            data = await upload.read()
            if data:
                values["proof"], values["proof_name"] = data, upload.filename
    try:
        run(s, config, actor, action, invoice_id, values)
    except DeskError as exc:
        s.rollback()
        return f"Não foi possível: {ERROR_WORDS.get(exc.code, str(exc))}."
    return DONE[Action(action)]


ACTION_WORDS = {"approve": "aprovou", "reject": "rejeitou", "pay": "marcou como paga",
                "undo": "desfez", "override": "liberou o bloqueio", "recheck": "conferiu de novo",
                "retry": "reprocessou", "token.add": "criou um token", "user.add":
                "criou um usuário"}


def history(s: Session, invoice_id: int | None, limit: int = 100) -> list[dict[str, Any]]:
    """The audit log's entries, newest first (of one bill, or of all), as dicts for pages."""
    out = []
    for e in audit.entries(s, invoice_id=invoice_id, limit=limit):
        row = audit.entry_json(e)
        row["at"] = e.at
        row["words"] = ACTION_WORDS.get(e.action, e.action)
        before, after = row["before"], row["after"]
        row["change"] = (STATE_WORDS.get(before.get("state"), before.get("state")),
                         STATE_WORDS.get(after.get("state"), after.get("state"))) \
            if isinstance(before, dict) and isinstance(after, dict) else (None, None)
        out.append(row)
    return out


def retry(engine: Any, config: Any, actor: Any, message_id: int) -> str:
    """Put a quarantined message back to pending (the daemon judges it again); audited."""
    from pipeline.mail.retry import retry_quarantined
    from storage import Message

    if not can(actor, Action.RETRY):
        return "Não foi possível: o seu papel não permite esta ação."
    done = retry_quarantined(engine, config, [message_id])
    if message_id not in done.reset:
        why = done.skipped.get(message_id, "não está em quarentena")
        return f"Não foi possível reprocessar a mensagem {message_id}: {why}."
    with Session(engine) as s:
        msg = s.get(Message, message_id)
        audit.record(s, actor, Action.RETRY, None,
                     {"message": message_id, "status": "quarantined"},
                     {"message": message_id, "status": str(msg.status) if msg else None}, None)
        s.commit()
    return (f"Mensagem {message_id} devolvida à fila: o confere vai lê-la de novo "
            "na próxima passada.")
