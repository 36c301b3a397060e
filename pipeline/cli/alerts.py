"""Subcommands that tell people: `alerts list|send`, `report`."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text
from sqlmodel import Session, select

from parsers.months import previous_month, today_local
from pipeline.cli.app import App, config_option, emit, out_console
from pipeline.locale import format as fmt
from pipeline.notify.delivery import deliver_pending, retry_failed
from pipeline.notify.rules import HEADLINES, evaluate_time_rules
from pipeline.reports.report import FORMATS, build, render_report
from storage.alert_models import Alert


@click.group()
def alerts() -> None:
    """The alert outbox: list it, deliver what is pending."""


def _alert_json(a: Alert) -> dict:
    def ts(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {"id": a.id, "key": a.dedupe_key, "kind": a.kind, "invoice_id": a.invoice_id,
            "contract": a.contract, "month": a.month, "subject": a.subject, "status": a.status,
            "attempts": a.attempts, "last_error": a.last_error, "message_id": a.message_id,
            "created_at": ts(a.created_at), "next_attempt_at": ts(a.next_attempt_at),
            "sent_at": ts(a.sent_at)}


@alerts.command("list")
@config_option
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "all"]),
              default="all", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One alert object per line.")
def list_alerts(config_path: str | None, status: str, as_json: bool) -> None:
    """Alerts in the outbox, newest first."""
    app = App(config_path)
    with Session(app.engine()) as s:
        query = select(Alert).order_by(Alert.id.desc())
        if status != "all":
            query = query.where(Alert.status == status)
        rows = s.exec(query).all()
    if as_json:
        for a in rows:
            emit(_alert_json(a))
        return
    table = Table(title="confere: alertas")
    for col in ("id", "tipo", "situação", "tentativas", "criado", "assunto"):
        table.add_column(col)
    style = {"pending": "yellow", "sent": "green", "failed": "bold red"}
    words = {"pending": "pendente", "sent": "enviado", "failed": "falhou"}
    for a in rows:
        table.add_row(str(a.id), HEADLINES.get(a.kind, a.kind),
                      Text(words.get(a.status, a.status), style=style.get(a.status, "")),
                      str(a.attempts), fmt.moment(a.created_at),
                      Text(a.subject + (f"\n{a.last_error}" if a.last_error else "")))
    out_console().print(table)


@alerts.command("send")
@config_option
@click.option("--today", "on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Evaluate the calendar rules as of this date (default: today).")
@click.option("--retry-failed", "requeue", is_flag=True,
              help="First requeue alerts that used up their tries.")
def send(config_path: str | None, on: datetime | None, requeue: bool) -> None:
    """Evaluate the calendar rules, then deliver every pending alert once over SMTP."""
    app = App(config_path)
    engine = app.engine()
    if requeue:
        click.echo(f"requeued {retry_failed(engine)} failed alert(s)")
    with Session(engine) as s:
        new = evaluate_time_rules(s, app.config, on.date() if on else None)
        s.commit()
    report = deliver_pending(engine, app.config)
    click.echo(f"{len(new)} new alert(s) from the calendar rules; sent {len(report.sent)}, "
               f"failed {len(report.failed)}")
    for key, error in report.failed:
        click.echo(f"  not sent {key}: {error}", err=True)
    for key in report.gave_up:
        click.echo(f"  gave up on {key} (`confere alerts send --retry-failed` to try again)",
                   err=True)
    if report.failed:
        sys.exit(1)


@click.command()
@config_option
@click.option("--month", metavar="YYYY-MM", default=None,
              help="The month to report (default: last month).")
@click.option("--year", metavar="YYYY", default=None, help="A yearly view instead of a month.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True,
              help="csv: pt-BR spreadsheet (;, decimal comma, BOM); csv-plain: comma and point.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (default: stdout).")
def report(config_path: str | None, month: str | None, year: str | None, fmt: str,
           output: str | None) -> None:
    """The reconciliation report: billed vs expected per contract, checks, verdicts, payment."""
    if month and year:
        raise click.UsageError("give --month or --year, not both")
    period = year or month or previous_month(today_local())
    try:
        if len(period) == 4:
            date(int(period), 1, 1)
        else:
            datetime.strptime(period, "%Y-%m")
            if len(period) != 7:
                raise ValueError
    except ValueError:
        raise click.BadParameter(f"{period!r}: use YYYY-MM for --month, YYYY for --year",
                                 param_hint="--month/--year") from None
    app = App(config_path)
    with Session(app.engine()) as s:
        data = render_report(build(s, app.config, period), fmt)  # type: ignore[arg-type]
    if output:
        Path(output).write_bytes(data)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
