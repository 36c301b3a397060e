"""Deciding at the terminal: `approve`, `reject`, `undo`, `override`, `recheck`, `documents`,
`audit`. The actor is the OS user, as admin; every change goes through pipeline.desk."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from sqlmodel import Session, select

from pipeline.checks.vocabulary import VERDICT_WORDS
from pipeline.cli.app import App, config_option, emit, err, out_console
from pipeline.desk import audit as audit_log
from pipeline.desk import workflow
from pipeline.desk.explain import STATE_WORDS
from pipeline.desk.files import stored_files
from pipeline.desk.roles import Actor, cli_actor
from pipeline.desk.workflow import SAO_PAULO
from storage import BlobStore, Invoice

reason_option = click.option("--reason", required=True, metavar="TEXT",
                             help="Why (kept in the audit log).")
json_option = click.option("--json", "as_json", is_flag=True,
                           help="The audit entry of the change as JSON.")


def _decide(config_path: str | None, invoice_id: int, as_json: bool,
            act: Callable[[Session, Actor], Invoice], done: str) -> None:
    """Run one workflow action in a transaction and say what happened (pt-BR, or JSON)."""
    app = App(config_path)
    actor = cli_actor()
    with Session(app.engine(), expire_on_commit=False) as s:
        act(s, actor)
        s.commit()
        [entry] = audit_log.entries(s, invoice_id=invoice_id, limit=1)
        obj = audit_log.entry_json(entry)
    if as_json:
        emit(obj)
        return
    line = f"fatura #{invoice_id}: {done}"
    bank = obj["after"].get("learned_bank")
    if bank:
        line += f"; o banco {bank} passa a ser aceito nas próximas faturas deste fornecedor"
    rechecked = obj["after"].get("rechecked")
    if rechecked:
        line += (f" (fatura(s) {', '.join(f'#{i}' for i in rechecked)}, do mesmo banco, "
                 "verificada(s) de novo)")
    forgot = obj["after"].get("forgot_banks")
    if forgot:
        line += f"; o banco {', '.join(forgot)} deixa de ser aceito sem revisão"
    click.echo(line)


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@reason_option
@json_option
def approve(config_path: str | None, invoice_id: int, reason: str, as_json: bool) -> None:
    """Approve a `review` bill, with a reason (an unseen bank on it is trusted from then on)."""
    _decide(config_path, invoice_id, as_json,
            lambda s, a: workflow.approve(s, invoice_id, a, reason), "aprovada")


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@reason_option
@json_option
def reject(config_path: str | None, invoice_id: int, reason: str, as_json: bool) -> None:
    """Reject a bill: it is not to be paid."""
    _decide(config_path, invoice_id, as_json,
            lambda s, a: workflow.reject(s, invoice_id, a, reason), "rejeitada")


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@reason_option
@json_option
def undo(config_path: str | None, invoice_id: int, reason: str, as_json: bool) -> None:
    """Undo a bill's last decision or payment."""
    _decide(config_path, invoice_id, as_json,
            lambda s, a: workflow.undo(s, invoice_id, a, reason), "última ação desfeita")


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@reason_option
@click.option("--yes", is_flag=True, help="Confirm without asking (the second confirmation).")
@json_option
def override(config_path: str | None, invoice_id: int, reason: str, yes: bool,
             as_json: bool) -> None:
    """Clear a `block` bill for payment all the same (admin); asks for a confirmation."""
    if not yes:
        yes = click.confirm(f"A fatura #{invoice_id} tem sinais de fraude. Liberar o pagamento "
                            "mesmo assim?", default=False, err=True)
    _decide(config_path, invoice_id, as_json,
            lambda s, a: workflow.override_block(s, invoice_id, a, reason, confirm=yes),
            "liberada para pagamento apesar do bloqueio")


@click.command()
@config_option
@click.argument("invoice_ids", nargs=-1, type=int)
@click.option("--all", "everything", is_flag=True, help="Every stored bill.")
@click.option("--json", "as_json", is_flag=True,
              help="One object per bill: id, old_verdict, new_verdict.")
def recheck(config_path: str | None, invoice_ids: tuple[int, ...], everything: bool,
            as_json: bool) -> None:
    """Judge stored bills again from their stored email, against the current configuration."""
    if bool(invoice_ids) == everything:
        raise click.UsageError("give invoice ids or --all")
    app = App(config_path)
    actor = cli_actor()
    results: list[tuple[int, str, str]] = []
    with Session(app.engine(), expire_on_commit=False) as s, app.sandbox() as sandbox:
        ids = list(invoice_ids) if invoice_ids else list(
            s.exec(select(Invoice.id).order_by(Invoice.id)).all())
        for start in range(0, len(ids), 50):  # commit as it goes: one writer lock at a time
            chunk = ids[start:start + 50]
            done = workflow.recheck(s, app.config, chunk, actor, sandbox=sandbox)  # type: ignore[arg-type]
            s.commit()
            for invoice_id, old, new in done:
                if as_json:
                    emit({"id": invoice_id, "old_verdict": old, "new_verdict": new})
            results += done
    if as_json:
        return
    changed = [(i, o, n) for i, o, n in results if o != n]
    for invoice_id, old, new in changed:
        click.echo(f"fatura #{invoice_id}: {VERDICT_WORDS[old]} -> {VERDICT_WORDS[new]}")
    click.echo(f"{len(results)} fatura(s) verificada(s) de novo, {len(changed)} mudaram de "
               "veredito")


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into (created if missing).")
@click.option("--json", "as_json", is_flag=True, help="One object per file written.")
def documents(config_path: str | None, invoice_id: int, out_dir: str, as_json: bool) -> None:
    """Write a bill's stored email, boleto and NFS-e files (and any proof of payment)."""
    app = App(config_path)
    blobs = BlobStore(app.config.blob_dir)
    with Session(app.engine()) as s:
        if s.get(Invoice, invoice_id) is None:
            raise click.ClickException(f"no invoice #{invoice_id} (see `confere invoices`)")
        files = stored_files(s, invoice_id)
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    missing = 0
    for f in files:
        try:
            data = blobs.get(f.sha256)
        except (OSError, KeyError, ValueError):
            err.print(f"confere: {f.kind} {f.sha256[:12]}… is missing from the blob store",
                      highlight=False, markup=False)
            missing += 1
            continue
        path = target / f.name
        path.write_bytes(data)
        if as_json:
            emit({"kind": f.kind, "path": str(path), "content_type": f.content_type,
                  "sha256": f.sha256, "size": len(data)})
        else:
            click.echo(f"{f.kind:>13}  {path}")
    if missing:
        raise SystemExit(1)


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SAO_PAULO).strftime("%d/%m/%Y %H:%M")


ACTION_WORDS = {"approve": "aprovou", "reject": "rejeitou", "undo": "desfez", "pay": "pagou",
                "override": "liberou o bloqueio", "recheck": "verificou de novo",
                "retry": "reprocessou", "user.add": "criou usuário",
                "user.password": "trocou a senha", "user.disable": "desativou usuário",
                "user.enable": "reativou usuário", "token.add": "criou token",
                "token.revoke": "revogou token"}


def _change(obj: dict[str, Any]) -> str:
    before, after = obj["before"], obj["after"]
    parts = []
    for key in ("verdict", "state"):
        if key in before and key in after and before[key] != after[key]:
            words = VERDICT_WORDS if key == "verdict" else STATE_WORDS
            parts.append(f"{words.get(before[key], before[key])} -> "
                         f"{words.get(after[key], after[key])}")
    for key in ("learned_bank", "undid", "user", "token", "role"):
        if key in after:
            parts.append(f"{key}: {after[key]}")
    return "; ".join(parts)


@click.command()
@config_option
@click.option("--invoice", "invoice_id", type=int, default=None, help="Only this bill's entries.")
@click.option("--action", default=None, help="Only this action (approve, reject, pay, ...).")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One object per entry, newest first.")
def audit(config_path: str | None, invoice_id: int | None, action: str | None, limit: int,
          as_json: bool) -> None:
    """The audit log, newest first: who did what to which bill, when, from where, and why."""
    app = App(config_path)
    with Session(app.engine()) as s:
        items = [audit_log.entry_json(e) for e in audit_log.entries(
            s, invoice_id=invoice_id, limit=limit, action=action)]
    if as_json:
        for obj in items:
            emit(obj)
        return
    table = Table(title="confere: auditoria")
    for col in ("quando", "quem", "papel", "origem", "ação", "fatura", "mudança", "motivo"):
        table.add_column(col)
    for obj in items:
        table.add_row(_when(obj["at"]), escape(obj["actor"]), obj["role"], escape(obj["source"]),
                      ACTION_WORDS.get(obj["action"], obj["action"]),
                      f"#{obj['invoice_id']}" if obj["invoice_id"] else "-",
                      escape(_change(obj)), escape(obj["reason"] or ""))
    out_console().print(table)


__all__ = ["approve", "audit", "documents", "override", "recheck", "reject", "undo"]


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@click.option("--on", "paid_on", type=click.DateTime(["%Y-%m-%d", "%d/%m/%Y"]), default=None,
              help="Payment date, YYYY-MM-DD or DD/MM/YYYY (default: today).")
@click.option("--proof", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="The payment receipt, kept with the bill.")
@click.option("--undo", is_flag=True, help="Mark the bill unpaid again.")
@click.option("--force", is_flag=True,
              help="Paid all the same: approve a review bill or override a blocked one first.")
@click.option("--reason", metavar="TEXT", default=None, help="Why (kept in the audit log).")
def paid(config_path: str | None, invoice_id: int, paid_on: datetime | None,
         proof: Path | None, undo: bool, force: bool, reason: str | None) -> None:
    """Mark a bill paid (no more due-date reminders); every step is in the audit log."""
    app = App(config_path)
    actor = cli_actor()
    with Session(app.engine(), expire_on_commit=False) as s:
        if undo:
            workflow.undo(s, invoice_id, actor, reason or "marked unpaid at the command line")
            s.commit()
            click.echo(f"fatura #{invoice_id}: marcada como não paga")
            return
        inv = s.get(Invoice, invoice_id)
        if inv is None:
            raise click.ClickException(f"no invoice #{invoice_id} (see `confere invoices`)")
        if force and not workflow.fit_to_pay(inv, workflow.decision_of(s, invoice_id)):
            why = reason or "paid all the same (confere paid --force)"
            if inv.verdict == "block":
                workflow.override_block(s, invoice_id, actor, why, confirm=True)
            else:
                workflow.approve(s, invoice_id, actor, why)
        day = paid_on.date() if paid_on else datetime.now(SAO_PAULO).date()
        workflow.mark_paid(s, invoice_id, actor, day,
                           proof=proof.read_bytes() if proof else None,
                           proof_name=proof.name if proof else None,
                           blobs=BlobStore(app.config.blob_dir) if proof else None, reason=reason)
        s.commit()
    click.echo(f"fatura #{invoice_id}: marcada como paga em {day:%d/%m/%Y}")
