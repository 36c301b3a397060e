"""Human output: tables of bills and failed checks in plain words (pt-BR for finance people)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.checks import render
from pipeline.locale import format as fmt

VERDICT_WORDS = {v: render.verdict_words(v) for v in ("ok", "review", "block")}
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


def invoices_table(console: Console, invoices: list[tuple[int, dict[str, Any]]]) -> None:
    """Stored bills, newest first."""
    table = Table(title="confere: faturas")
    for col in ("id", "fornecedor", "contrato", "mês", "NFS-e", "vencimento", "valor", "veredito"):
        table.add_column(col)
    for inv_id, inv in invoices:
        table.add_row(str(inv_id), inv["vendor"], inv["contract_number"] or "-",
                      fmt.month(inv["reference_month"]), (inv["nfse"] or {}).get("number") or "-",
                      fmt.day(inv["due_date"]), _amount(inv), _verdict(inv))
    console.print(table)


def bill_card(console: Console, inv_id: int, inv: dict[str, Any],
              forwarded_by: str | None = None) -> None:
    """One bill as a card: its fields, its verdict, then every check in words."""
    nfse, boleto = inv["nfse"] or {}, inv["boleto"] or {}
    fields = [("Fatura", f"#{inv_id}"), ("Fornecedor", inv["vendor"]),
              ("Contrato", inv["contract_number"] or "-"),
              ("Competência", fmt.month(inv["reference_month"])),
              ("NFS-e", nfse.get("number") or "-"), ("Valor", _amount(inv)),
              ("Vencimento", fmt.day(inv["due_date"] or boleto.get("due_date"))),
              ("Linha digitável", fmt.digitable_line(boleto.get("digitable_line"))),
              ("Veredito", render.verdict_words(inv["verdict"], inv["checks"]))]
    for label, value in fields:
        console.print(f"{label + ':':<17}{value}", highlight=False, markup=False)
    console.print("\nConferências:", highlight=False, markup=False)
    for c in inv["checks"]:
        console.print(f"  - {render.check_line(c, {**inv, 'forwarded_by': forwarded_by})}",
                      highlight=False, markup=False)
    if inv.get("verification_link"):
        console.print(f"\nConfira no site do emissor: {inv['verification_link']}",
                      highlight=False, markup=False)


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
