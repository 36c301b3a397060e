"""Subcommands for watching mailboxes: `run` (the daemon), `poll` (one pass), `status`."""

from __future__ import annotations

import json
import logging
import sys

import click
from rich.table import Table
from sqlalchemy import func
from sqlalchemy.engine import Engine
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


def _engine(app: App) -> Engine:
    """The store, or a plain account of why it cannot be used (read-only, locked, down)."""
    from sqlalchemy.exc import DBAPIError

    from parsers.errors import TransientFault
    from pipeline.mail.health import explain_db_error

    try:
        return app.engine()
    except DBAPIError as exc:
        raise TransientFault("the database cannot be used: "
                             + explain_db_error(app.config.database_url, exc)) from None


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
    engine = _engine(app)
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
    engine = _engine(app)
    lock = sqlite_daemon_lock(engine)
    try:
        with app.sandbox() as sandbox:
            watcher = Watcher(app.config, engine, sandbox)
            watcher.prepare()
            reports, judged = watcher.poll_and_process(force=True)
            results = judged or []
    finally:
        if lock is not None:
            lock.close()
    if as_json:
        for r in reports:
            sys.stdout.write(json.dumps({
                "mailbox": r.mailbox, "folder": r.folder, "idle": r.idle, "resync": r.resync,
                "fetched": r.fetched, "stored": r.stored, "known": r.known, "acted": r.acted,
                "reconnects": r.reconnects, "action_failures": r.action_failures,
                "error": r.error}, ensure_ascii=False) + "\n")
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


def _with_health(rows: list[dict], health: dict | None) -> list[dict]:
    """Each folder's row with what the daemon of this host last recorded in its health file."""
    health = health or {}
    for row in rows:
        row["database_error"] = health.get("database_error")
        row["database_error_at"] = health.get("database_error_at")
        row["daemon_last_good_poll_at"] = health.get("last_good_poll_at")
        row["daemon_error"] = health.get("last_error")
        row["daemon_error_at"] = health.get("last_error_at")
        if row.get("last_error") is None and row["database_error"]:
            row["last_error"] = row["database_error"]
            row["last_error_at"] = row["database_error_at"]
    return rows


def _unreachable_rows(app: App, error: str) -> list[dict]:
    """One row per configured folder when the database cannot be read: the error, nothing
    stale."""
    rows = []
    for m in app.config.settings.mailboxes:
        for folder in m.folders if m.path is None else [m.path]:
            rows.append({"mailbox": m.name, "folder": folder, "configured": True,
                         "last_error": error, "last_error_at": None})
    return rows


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per folder.")
def status(config_path: str | None, as_json: bool) -> None:
    """Per mailbox: the last poll, the cursor, the backlog and the last error."""
    from sqlalchemy.exc import DBAPIError

    from pipeline.mail.health import explain_db_error, read_health

    app = App(config_path)
    health = read_health(app.config.blob_dir)
    try:
        engine = app.engine()
        rows = _with_health(status_rows(app.config, engine), health)
    except DBAPIError as exc:
        error = explain_db_error(app.config.database_url, exc)
        rows = _with_health(_unreachable_rows(app, error), health)
        for row in rows:
            row["database_error"] = error
        if as_json:
            for row in rows:
                sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif health and health.get("last_good_poll_at"):
            out_console().print(f"daemon: last good poll {health['last_good_poll_at'][:19]}",
                                highlight=False, markup=False)
        click.echo(f"confere: the database cannot be used: {error}", err=True)
        sys.exit(2)
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
        if r.get("unfetched"):
            backlog += f" + {r['unfetched']} on the server"
        error = r["last_error"] or ""
        if error and r.get("last_error_at"):
            error = f"{r['last_error_at'][:19]} {error}"
        if r.get("actions_failed"):
            error = (error + "; " if error else "") + \
                f"{r['actions_failed']} post-action(s) failing: {r['action_error']}"
        if r.get("retry_error"):
            error = (error + "; " if error else "") + \
                f"{r['retrying']} message(s) to retry: {r['retry_error']}"
        table.add_row(r["mailbox"], r["folder"] or "-", poll_at, cursor, str(r["stored"]),
                      backlog, error[:160])
    console = out_console()
    console.print(table)
    with Session(engine) as s:
        alerts = dict(s.exec(select(Alert.status, func.count()).group_by(Alert.status)).all())
        quarantined = s.exec(select(func.count()).select_from(Message)
                             .where(Message.status == "quarantined")).one()
    console.print(f"alerts: {alerts.get('pending', 0)} pending, {alerts.get('failed', 0)} failed"
                  f" (`confere alerts list`); messages in quarantine: {quarantined}"
                  " (`confere quarantine list`)", highlight=False, markup=False)
