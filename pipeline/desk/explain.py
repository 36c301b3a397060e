"""A bill in plain pt-BR for the finance team: the verdict's reason, the payment status, checks.

Shared by `confere show`, `confere invoices` and the web desk, so every screen says the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol

from pipeline.checks.render import meaning
from pipeline.checks.vocabulary import FORGERY_GRADE, order_key
from pipeline.desk.queries import BillRow, today_local
from pipeline.desk.workflow import DecisionState
from pipeline.templates import data
from pipeline.vocabulary import Outcome, Verdict

STATE_WORDS = {
    "open": "em aberto", "approved": "aprovada", "rejected": "rejeitada",
    "overridden": "liberada por um administrador", "paid": "paga",
}
_RANK = {Outcome.FAIL: 0, Outcome.UNKNOWN: 1, Outcome.PASS: 2, Outcome.SKIPPED: 3}


class CheckLike(Protocol):
    """A check as stored (CheckRow) or as JSON (a dict is turned into one by `as_checks`)."""

    name: str
    outcome: str
    detail: str


class _Check:
    def __init__(self, name: str, outcome: str, detail: str) -> None:
        self.name, self.outcome, self.detail = name, outcome, detail


def as_checks(items: Iterable[Any]) -> list[CheckLike]:
    """Checks from rows or from the JSON contract's dicts."""
    return [_Check(c["name"], c["outcome"], c["detail"]) if isinstance(c, dict) else c
            for c in items]


def ordered(checks: Iterable[Any]) -> list[CheckLike]:
    """Failed first, then not verified, passed, not applicable; the vocabulary's order within."""
    return sorted(as_checks(checks), key=lambda c: (_RANK.get(Outcome(c.outcome), 9),
                                                    order_key(c.name)))


# What a person can do about the most common open questions, in pt-BR (a check's own detail is
# English, for logs and the JSON contract, and is never shown here).
UNKNOWN_HINTS = {
    "boleto.bank_allowed": "o banco {bank} nunca apareceu numa fatura aceita deste fornecedor: "
                           "confirme com o fornecedor e aprove a fatura (o banco passa a ser "
                           "aceito nas próximas)",
    "nfse.signature": "não foi possível confirmar quem assinou o XML da NFS-e (sem assinatura, "
                      "cadeia de certificados incompleta ou assinante que não é o prestador "
                      "nem o emissor)",
    "email.authentication": "não foi possível provar que o e-mail saiu dos servidores do "
                            "fornecedor",
    "authenticity.issnet": "a prefeitura (ISSNet) não respondeu; será consultada de novo",
    "authenticity.sefin": "a NFS-e nacional (Sefin) não respondeu; será consultada de novo",
}


def _open_question(c: CheckLike) -> str:
    hint = UNKNOWN_HINTS.get(c.name)
    if hint is None:
        return f"não foi possível verificar: {meaning(c.name)}"
    bank = re.search(r"\bbank (\d{3})\b", c.detail)
    return hint.format(bank=bank.group(1) if bank else "do boleto")


def verdict_reason(verdict: str, checks: Iterable[Any]) -> str:
    """Why the bill got its verdict, in one pt-BR sentence."""
    items = ordered(checks)
    fails = [c for c in items if c.outcome == Outcome.FAIL]
    if verdict == Verdict.BLOCK:
        grave = [c for c in fails if c.name in FORGERY_GRADE] or fails
        first = grave[0]
        more = f" (e mais {len(fails) - 1} falha(s))" if len(fails) > 1 else ""
        return f"sinal de fraude: {meaning(first.name)} — falhou{more}"
    if verdict == Verdict.REVIEW:
        if fails:
            more = f" (e mais {len(fails) - 1} falha(s))" if len(fails) > 1 else ""
            return f"{meaning(fails[0].name)} — falhou{more}"
        open_ = [c for c in items if c.outcome == Outcome.UNKNOWN and c.name in FORGERY_GRADE]
        if open_:
            more = f" (e mais {len(open_) - 1} pendência(s))" if len(open_) > 1 else ""
            return f"{_open_question(open_[0])}{more}"
        return "uma pessoa precisa olhar esta fatura"
    skipped = sum(1 for c in items if c.outcome == Outcome.SKIPPED)
    tail = f"; {skipped} não se aplica(m) ou não está(ão) configurada(s)" if skipped else ""
    return "todas as verificações aplicáveis conferem" + tail


def days_words(due: date | None, today: date | None = None) -> str:
    """How far the due date is: "vence hoje", "vence em 3 dias", "vencida há 2 dias"."""
    if due is None:
        return "sem vencimento"
    delta = (due - (today or today_local())).days
    if delta == 0:
        return "vence hoje"
    if delta == 1:
        return "vence amanhã"
    if delta > 1:
        return f"vence em {delta} dias"
    return "venceu ontem" if delta == -1 else f"vencida há {-delta} dias"


def payment_words(row: BillRow, today: date | None = None) -> str:
    """The payment status of a bill for a person: paid, to pay, waiting for approval, not to pay."""
    if row.state == DecisionState.PAID:
        return f"paga em {data(row.paid_on)}"
    if row.state == DecisionState.REJECTED:
        return "rejeitada: não pagar"
    if row.fit_to_pay:
        return f"a pagar ({days_words(row.due_date, today)})"
    if row.invoice.verdict == Verdict.BLOCK:
        return "não pagar (bloqueada)"
    return f"aguarda aprovação ({days_words(row.due_date, today)})"
