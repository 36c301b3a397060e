"""Human output: tables of bills and failed checks in plain words (pt-BR for finance people)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from parsers.boleto import format_line
from pipeline.checks.vocabulary import CHECKS, FORGERY_GRADE
from pipeline.desk.explain import (
    OUTCOME_WORDS,
    STATE_WORDS,
    days_words,
    meaning,
    ordered,
    payment_words,
    verdict_reason,
)
from pipeline.desk.queries import BillRow
from pipeline.desk.workflow import DecisionState
from pipeline.templates import brl, data, mes

VERDICT_WORDS = {"ok": "ok para pagar", "review": "revisar", "block": "NÃO PAGAR"}
VERDICT_STYLE = {"ok": "green", "review": "yellow", "block": "bold red"}
STATUS_WORDS = {"invoice": "fatura", "ignored": "ignorada", "quarantined": "quarentena",
                "duplicate": "duplicada"}


def _brl(value: str | None) -> str:
    if value is None:
        return "-"
    whole, cents = value.split(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"R$ {sign}{'.'.join(groups)},{cents}"


def problems(invoice: dict[str, Any]) -> list[str]:
    """The failed (and forgery-grade unknown) checks in plain words."""
    out = []
    for c in invoice["checks"]:
        if c["outcome"] == "fail" or (c["outcome"] == "unknown" and c["name"] in FORGERY_GRADE):
            word = "FALHOU" if c["outcome"] == "fail" else "não verificado"
            meaning = CHECKS.get(c["name"], c["name"])
            out.append(f"{word}: {meaning} ({c['name']}): {c['detail']}")
    return out


def ingest_table(console: Console, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """One row per message: file, status, bill fields, verdict; problems listed below."""
    table = Table(title="confere: mensagens lidas", show_lines=False)
    for col in ("arquivo", "situação", "contrato", "mês", "vencimento", "valor", "veredito"):
        table.add_column(col)
    notes: list[str] = []
    for name, line in rows:
        inv = line["invoice"]
        status = STATUS_WORDS.get(line["status"], line["status"])
        if inv is None or line["status"] != "invoice":
            table.add_row(name, status, "", "", "", "", "")
            if line["reason"]:
                notes.append(f"[dim]{escape(name)}[/]: {status}: {escape(line['reason'])}")
            continue
        amount = (inv["boleto"] or {}).get("amount") or (inv["nfse"] or {}).get("net_amount")
        v = inv["verdict"]
        table.add_row(name, status, inv["contract_number"] or "-", inv["reference_month"] or "-",
                      inv["due_date"] or "-", _brl(amount),
                      f"[{VERDICT_STYLE[v]}]{VERDICT_WORDS[v]}[/]")
        notes.extend(f"[dim]{escape(name)}[/]: {escape(p)}" for p in problems(inv))
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)


def invoices_table(console: Console, rows: list[BillRow]) -> None:
    """Stored bills by due date, with what people decided and the payment status."""
    table = Table(title="confere: faturas")
    for col in ("id", "fornecedor", "contrato", "mês", "NFS-e", "vencimento", "valor", "veredito",
                "situação"):
        table.add_column(col)
    for row in rows:
        inv = row.invoice
        v = inv.verdict
        table.add_row(str(inv.id), inv.vendor, inv.contract_number or "-",
                      mes(inv.reference_month), inv.nfse_number or "-", data(row.due_date),
                      brl(row.amount_cents), f"[{VERDICT_STYLE[v]}]{VERDICT_WORDS[v]}[/]",
                      escape(_situation(row)))
    console.print(table)


def _situation(row: BillRow) -> str:
    words = payment_words(row)
    if row.state in (DecisionState.APPROVED, DecisionState.OVERRIDDEN) and row.decision:
        words = f"{STATE_WORDS[row.state]} por {row.decision.decided_by}; {words}"
    return words


def bill_card(console: Console, row: BillRow, checks: list[Any], link: str | None) -> None:
    """`confere show`: the verdict and its reason first, then amount, due date, payment, line."""
    inv, v = row.invoice, row.invoice.verdict
    title = f"Fatura #{inv.id} · {inv.provider_name or inv.vendor}"
    if inv.contract_number:
        title += f" · contrato {inv.contract_number}"
    if inv.reference_month:
        title += f" · referência {mes(inv.reference_month)}"
    lines = [f"[{VERDICT_STYLE[v]}]{VERDICT_WORDS[v].upper()}[/]: "
             f"{escape(verdict_reason(v, checks))}",
             f"Valor: {brl(row.amount_cents)}",
             f"Vencimento: {data(row.due_date)} ({days_words(row.due_date)})"
             if row.due_date else "Vencimento: -",
             f"Pagamento: {escape(payment_words(row))}"]
    d = row.decision
    if d is not None and d.decision:
        lines.append(f"Decisão: {STATE_WORDS[d.decision]} por {escape(d.decided_by or '?')} em "
                     f"{data(d.decided_at)}: {escape(d.reason or '')}")
    if row.boleto is not None and row.boleto.digitable_line:
        lines.append(f"Linha digitável: {format_line(row.boleto.digitable_line)}")
    if row.boleto is not None and row.boleto.pix_payload and row.fit_to_pay:
        lines.append(f"Pix copia e cola: {escape(row.boleto.pix_payload)}")
    if inv.nfse_number:
        lines.append(f"NFS-e: {escape(inv.nfse_number)}"
                     + (f" · verificar no emissor: {escape(link)}" if link else ""))
    console.print(Panel("\n".join(lines), title=escape(title), title_align="left",
                        expand=False), highlight=False)
    table = Table(title="verificações", show_lines=False)
    for col in ("resultado", "verificação", "detalhe"):
        table.add_column(col)
    for c in ordered(checks):
        style = {"fail": "red", "unknown": "yellow"}.get(c.outcome, "")
        word = OUTCOME_WORDS.get(c.outcome, c.outcome)
        table.add_row(f"[{style}]{word}[/]" if style else word,
                      f"{escape(meaning(c.name))} ({c.name})", escape(c.detail))
    console.print(table)
