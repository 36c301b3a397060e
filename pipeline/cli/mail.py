"""Subcommands for watching mailboxes: `run` (the daemon), `poll` (one pass), `status`."""

from __future__ import annotations

import json
import logging
import sys

import click
from rich.table import Table
from sqlalchemy import func
from sqlmodel import Session, select

from pipeline.cli.app import App, config_option, out_console
from pipeline.mail.leases import sqlite_daemon_lock
from pipeline.mail.watcher import Watcher, status_rows
from storage import Message
from storage.alert_models import Alert


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("imapclient", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: still running" is normal


@click.command("run")
@config_option
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
def run_daemon(config_path: str | None, verbose: bool) -> None:
    """Watch the configured mailboxes until SIGTERM / SIGINT (the daemon)."""
    from scheduler.daemon import Daemon

    _logging(verbose)
    app = App(config_path)
    if not app.config.settings.mailboxes:
        raise click.ClickException("no [[mailboxes]] in the configuration: nothing to watch")
    engine = app.engine()
    with app.sandbox() as sandbox:
        code = Daemon(app.config, engine, sandbox).run()
    sys.exit(code)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per folder.")
def poll(config_path: str | None, as_json: bool) -> None:
    """One pass over every mailbox, then process what is pending, and exit."""
    _logging(False)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("confere.watch").setLevel(logging.ERROR)  # folder errors: said below, once
    app = App(config_path)
    engine = app.engine()
    lock = sqlite_daemon_lock(engine)
    try:
        with app.sandbox() as sandbox:
            watcher = Watcher(app.config, engine, sandbox)
            watcher.prepare()
            reports = watcher.poll_due(force=True)
            results = watcher.process_pending()
    finally:
        if lock is not None:
            lock.close()
    if as_json:
        for r in reports:
            sys.stdout.write(json.dumps({
                "mailbox": r.mailbox, "folder": r.folder, "idle": r.idle, "resync": r.resync,
                "fetched": r.fetched, "stored": r.stored, "known": r.known, "acted": r.acted,
                "reconnects": r.reconnects, "error": r.error}, ensure_ascii=False) + "\n")
    else:
        console = out_console()
        for r in reports:
            if r.error:
                continue  # said once, on stderr below
            what = "nothing new" if r.idle else f"{r.stored} new, {r.known} already stored"
            console.print(f"{r.mailbox}/{r.folder}: {what}", highlight=False, markup=False)
        counts: dict[str, int] = {}
        for res in results:
            counts[res.status] = counts.get(res.status, 0) + 1
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
        console.print(f"processed: {summary}", highlight=False)
    failed = [r for r in reports if r.error]
    if failed:
        for r in failed:
            click.echo(f"confere: {r.mailbox}/{r.folder}: {r.error}", err=True)
        sys.exit(1)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per folder.")
def status(config_path: str | None, as_json: bool) -> None:
    """Per mailbox: the last poll, the cursor, the backlog and the last error."""
    app = App(config_path)
    rows = status_rows(app.config, app.engine())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("mailbox", "folder", "last poll", "cursor", "stored", "backlog", "last error")
    for r in rows:
        cur = r["cursor"]
        cursor = f"{cur['uidvalidity']}/{cur['last_uid']}" if cur and cur["uidvalidity"] else "-"
        poll_at = (r["last_poll_at"] or "never")[:19]
        backlog = str(r["backlog"]) + (f" ({r['stuck']} stuck)" if r["stuck"] else "")
        table.add_row(r["mailbox"], r["folder"] or "-", poll_at, cursor, str(r["stored"]),
                      backlog, (r["last_error"] or "")[:80])
    console = out_console()
    console.print(table)
    with Session(app.engine()) as s:
        alerts = dict(s.exec(select(Alert.status, func.count()).group_by(Alert.status)).all())
        quarantined = s.exec(select(func.count()).select_from(Message)
                             .where(Message.status == "quarantined")).one()
    console.print(f"alerts: {alerts.get('pending', 0)} pending, {alerts.get('failed', 0)} failed"
                  f" (`confere alerts list`); messages in quarantine: {quarantined}",
                  highlight=False, markup=False)
