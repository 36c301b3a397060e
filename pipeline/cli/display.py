"""Human output: tables of bills and failed checks in plain words (pt-BR for finance people)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.checks.vocabulary import CHECKS, FORGERY_GRADE, VERDICT_WORDS

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


def invoices_table(console: Console, invoices: list[tuple[int, dict[str, Any]]]) -> None:
    """Stored bills, newest first."""
    table = Table(title="confere: faturas")
    for col in ("id", "fornecedor", "contrato", "mês", "NFS-e", "vencimento", "valor", "veredito"):
        table.add_column(col)
    for inv_id, inv in invoices:
        amount = (inv["boleto"] or {}).get("amount") or (inv["nfse"] or {}).get("net_amount")
        v = inv["verdict"]
        table.add_row(str(inv_id), inv["vendor"], inv["contract_number"] or "-",
                      inv["reference_month"] or "-", (inv["nfse"] or {}).get("number") or "-",
                      inv["due_date"] or "-", _brl(amount),
                      f"[{VERDICT_STYLE[v]}]{VERDICT_WORDS[v]}[/]")
    console.print(table)
