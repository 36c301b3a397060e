"""`confere quarantine list|retry`: what is in quarantine, and giving messages another go."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from pipeline.cli.app import App, config_option, emit, out_console


@click.group()
def quarantine() -> None:
    """Quarantined messages: list them; retry those a disk or database fault put there."""


@quarantine.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One message object per line.")
def list_quarantine(config_path: str | None, as_json: bool) -> None:
    """Quarantined messages (and pending ones out of retries), oldest first."""
    from pipeline.mail.retry import retry_candidates, retryable

    app = App(config_path)
    rows = retry_candidates(app.engine(), app.config)
    if as_json:
        for m in rows:
            emit({"id": m.id, "status": m.status, "received_at": m.received_at.isoformat(),
                  "mailbox": m.mailbox, "folder": m.folder, "from": m.from_address,
                  "subject": m.subject, "reason": m.reason, "retryable": retryable(m)})
        return
    table = Table("id", "recebida", "de", "assunto", "motivo", "--all")
    for m in rows:
        table.add_row(str(m.id), f"{m.received_at:%d/%m/%Y %H:%M}", m.from_address or "-",
                      (m.subject or "-")[:50],
                      (m.reason or "pendente: tentativas esgotadas")[:90],
                      "sim" if retryable(m) else "não")
    out_console().print(table)


@quarantine.command("retry")
@config_option
@click.argument("ids", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True,
              help="Every message a disk or database fault quarantined or left pending.")
@click.option("--json", "as_json", is_flag=True, help="One result object per line.")
def retry(config_path: str | None, ids: tuple[int, ...], every: bool, as_json: bool) -> None:
    """Judge messages again: the ids given, or --all those a transient fault held back."""
    from pipeline.mail.retry import retry_quarantined

    if bool(ids) == every:
        raise click.UsageError("name message ids, or say --all")
    app = App(config_path)
    with app.sandbox() as sandbox:
        done = retry_quarantined(app.engine(), app.config, None if every else ids, sandbox)
    for r in done.results:
        if as_json:
            emit({"message_id": r.message_id, "status": r.status, "reason": r.reason,
                  "invoice_id": r.invoice_id})
        else:
            click.echo(f"message #{r.message_id}: {r.status}"
                       + (f" ({r.reason})" if r.reason else ""))
    for i, why in done.skipped.items():
        click.echo(f"message #{i} not retried: {why}", err=True)
    if not as_json:
        click.echo(f"retried {len(done.results)} message(s)")
    if done.skipped and not done.reset:
        sys.exit(1)
