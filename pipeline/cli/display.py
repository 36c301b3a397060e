"""Human output: tables of bills and failed checks in plain words (pt-BR for finance people)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from pipeline.checks import render
from pipeline.desk.explain import (
    STATE_WORDS,
    days_words,
    ordered,
    payment_words,
    verdict_reason,
)
from pipeline.desk.queries import BillRow
from pipeline.desk.workflow import DecisionState
from pipeline.locale import format as fmt

VERDICT_STYLE = {"ok": "green", "review": "yellow", "block": "bold red"}
STATUS_WORDS = {s: render.status_word(s) for s in render.STATUSES}


def problems(invoice: dict[str, Any]) -> list[str]:
    """The failed (and forgery-grade unknown) checks in plain words."""
    return render.problems(invoice)


def _amount(inv: dict[str, Any]) -> str:
    amount = (inv["boleto"] or {}).get("amount") or (inv["nfse"] or {}).get("net_amount")
    return fmt.money(amount, cents=False)


def _verdict(inv: dict[str, Any]) -> str:
    v = inv["verdict"]
    return f"[{VERDICT_STYLE[v]}]{escape(render.verdict_words(v, inv['checks']))}[/]"


def ingest_table(console: Console, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """One row per message: file, status, bill fields, verdict; problems listed below."""
    table = Table(title="confere: mensagens lidas", show_lines=False)
    for col in ("arquivo", "situação", "contrato", "mês", "vencimento", "valor", "veredito"):
        table.add_column(col)
    notes: list[str] = []
    for name, line in rows:
        inv = line["invoice"]
        status = render.status_word(line["status"])
        if inv is None or line["status"] != "invoice":
            table.add_row(escape(name), status, "", "", "", "", "")
            if line["reason"]:
                reason = render.reason_words(line["reason"])
                notes.append(f"[dim]{escape(name)}[/]: {status}: {escape(reason)}")
            continue
        table.add_row(escape(name), status, inv["contract_number"] or "-",
                      fmt.month(inv["reference_month"]), fmt.day(inv["due_date"]),
                      _amount(inv), _verdict(inv))
        said = render.problems(inv, forwarded_by=(line.get("message") or {}).get("from"))
        notes.extend(f"[dim]{escape(name)}[/]: {escape(p)}" for p in said)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)


def invoices_table(console: Console, rows: list[BillRow],
                   checks: dict[int, list[dict[str, str]]]) -> None:
    """Stored bills by due date, with what people decided and the payment status; an ok says
    what it did not check (from each bill's `checks`, by invoice id)."""
    table = Table(title="confere: faturas")
    for col in ("id", "fornecedor", "contrato", "mês", "NFS-e", "vencimento", "valor", "veredito",
                "situação"):
        table.add_column(col)
    for row in rows:
        inv = row.invoice
        v = inv.verdict
        said = escape(render.verdict_words(v, checks.get(inv.id or 0, [])))
        table.add_row(str(inv.id), inv.vendor, inv.contract_number or "-",
                      fmt.month(inv.reference_month), inv.nfse_number or "-",
                      fmt.day(row.due_date), fmt.money(row.amount_cents),
                      f"[{VERDICT_STYLE[v]}]{said}[/]", escape(_situation(row)))
    console.print(table)


def _situation(row: BillRow) -> str:
    words = payment_words(row)
    if row.state in (DecisionState.APPROVED, DecisionState.OVERRIDDEN) and row.decision:
        words = f"{STATE_WORDS[row.state]} por {row.decision.decided_by}; {words}"
    return words


def bill_card(console: Console, row: BillRow, obj: dict[str, Any],
              forwarded_by: str | None = None) -> None:
    """`confere show`: the verdict and its reason first, then amount, due date, payment, line;
    then every check in pt-BR, failed first."""
    inv, v = row.invoice, row.invoice.verdict
    checks, link = obj["checks"], obj.get("verification_link")
    title = f"Fatura #{inv.id} · {inv.provider_name or inv.vendor}"
    if inv.contract_number:
        title += f" · contrato {inv.contract_number}"
    if inv.reference_month:
        title += f" · referência {fmt.month(inv.reference_month)}"
    lines = [f"[{VERDICT_STYLE[v]}]{render.verdict_words(v, checks).upper()}[/]: "
             f"{escape(verdict_reason(v, checks))}",
             f"Valor: {fmt.money(row.amount_cents)}",
             f"Vencimento: {fmt.day(row.due_date)} ({days_words(row.due_date)})"
             if row.due_date else "Vencimento: -",
             f"Pagamento: {escape(payment_words(row))}"]
    d = row.decision
    if d is not None and d.decision:
        lines.append(f"Decisão: {STATE_WORDS[d.decision]} por {escape(d.decided_by or '?')} em "
                     f"{fmt.day(d.decided_at)}: {escape(d.reason or '')}")
    if row.boleto is not None and row.boleto.digitable_line:
        lines.append(f"Linha digitável: {fmt.digitable_line(row.boleto.digitable_line)}")
    if row.boleto is not None and row.boleto.pix_payload and row.fit_to_pay:
        lines.append(f"Pix copia e cola: {escape(row.boleto.pix_payload)}")
    if inv.nfse_number:
        lines.append(f"NFS-e: {escape(inv.nfse_number)}"
                     + (f" · verificar no emissor: {escape(link)}" if link else ""))
    console.print(Panel("\n".join(lines), title=escape(title), title_align="left",
                        expand=False), highlight=False)
    by_name = {c["name"]: c for c in checks}
    context = {**obj, "forwarded_by": forwarded_by}
    console.print("verificações (falhas primeiro):", highlight=False, markup=False)
    for c in ordered(checks):
        style = {"fail": "red", "unknown": "yellow"}.get(c.outcome, "")
        said = escape(render.check_line(by_name[c.name], context))
        console.print(f"  [{style}]{said}[/]" if style else f"  {said}", highlight=False)


def summary(lines: list[dict[str, Any]]) -> str:
    """How many messages came to what, in words: 'resumo: 3 ok para pagar, 1 NÃO PAGAR'."""
    counts: dict[str, int] = {}
    for line in lines:
        if line["status"] == "invoice" and line["invoice"]:
            key = render.verdict_words(line["invoice"]["verdict"], line["invoice"]["checks"])
        else:
            key = render.status_word(line["status"])
        counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} {word}" for word, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "resumo: " + (", ".join(parts) or "nenhuma mensagem")
