"""Subcommands about bills themselves: `init`, `ingest`, `invoices`, `show`, `demo`."""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress
from sqlmodel import Session, col, select

from pipeline.cli.app import App, config_option, emit, err, out_console
from pipeline.cli.display import bill_card, ingest_table, invoices_table, summary
from pipeline.config import settings as config_mod
from pipeline.contract import ingest_line, invoice_json
from pipeline.desk.queries import STATUS_FILTERS, Due, bill_row, list_bills
from pipeline.ingest.ingestor import Ingestor
from pipeline.vocabulary import Verdict
from storage import CheckRow, Invoice, Message


def _eml_files(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*.eml") if f.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise click.BadParameter(f"{p}: no such file or folder", param_hint="PATH")
    return out



@click.command()
@click.option("--config", "config_path", metavar="FILE", default="confere.toml", show_default=True,
              help="Where to write the starter configuration.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(config_path: str, force: bool) -> None:
    """Write a commented starter configuration."""
    target = Path(config_path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    target.write_text(resources.files("pipeline.config").joinpath("starter.toml").read_text("utf-8"),
                      encoding="utf-8")
    click.echo(f"wrote {target}: set company.cnpjs and your contracts, then `confere ingest`")


def _run_ingest(app: App, files: list[Path], as_json: bool) -> list[tuple[str, dict[str, Any]]]:
    """Ingest files, emitting JSON lines as they finish; a progress bar on a terminal."""
    engine = app.engine()
    rows: list[tuple[str, dict[str, Any]]] = []
    progress = Progress(console=err, transient=True, disable=not err.is_terminal)
    with app.sandbox() as sandbox, progress:
        task = progress.add_task("reading emails", total=len(files))
        ingestor = Ingestor(app.config, engine, sandbox)
        for path, result in ingestor.ingest_paths(files):
            with Session(engine) as s:
                msg = s.get(Message, result.message_id)
                inv = s.get(Invoice, result.invoice_id) if result.invoice_id else None
                line = ingest_line(s, msg, result.status, result.reason, inv)
            if as_json:
                emit(line)
            rows.append((path.name, line))
            progress.advance(task)
    return rows


@click.command()
@config_option
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message.")
def ingest(config_path: str | None, paths: tuple[str, ...], as_json: bool) -> None:
    """Read .eml files or folders of them: parse, verify, store."""
    app = App(config_path)
    files = _eml_files(paths)
    rows = _run_ingest(app, files, as_json)
    if not as_json:
        console = out_console()
        ingest_table(console, rows)
        console.print(summary([line for _name, line in rows]), highlight=False)


@click.command()
@config_option
@click.option("--due", type=click.Choice([str(d) for d in Due]), default=None,
              help="Unpaid, not rejected bills due: overdue, within 7 days (week), or later.")
@click.option("--verdict", type=click.Choice([str(v) for v in Verdict]), default=None)
@click.option("--month", metavar="YYYY-MM", default=None, help="The bills' reference month.")
@click.option("--status", type=click.Choice(STATUS_FILTERS), default=None,
              help="What people did: a decision state, unpaid, or payable (fit to pay now).")
@click.option("--json", "as_json", is_flag=True,
              help="One invoice object per line, with a `desk` object (state, payment).")
def invoices(config_path: str | None, due: str | None, verdict: str | None, month: str | None,
             status: str | None, as_json: bool) -> None:
    """List stored bills by due date (undated last), with their payment status."""
    if month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise click.BadParameter("use YYYY-MM, e.g. 2026-10", param_hint="--month")
    app = App(config_path)
    engine = app.engine()
    with Session(engine) as s:
        rows = list_bills(s, due=due, verdict=verdict, month=month, status=status)
        if as_json:
            for row in rows:
                emit({"id": row.invoice.id, **invoice_json(s, row.invoice),
                      "desk": row.desk_json()})
            return
        ids = [row.invoice.id for row in rows]
        checks: dict[int, list[dict[str, str]]] = {}
        for r in s.exec(select(CheckRow).where(col(CheckRow.invoice_id).in_(ids))).all():
            checks.setdefault(r.invoice_id, []).append({"name": r.name, "outcome": r.outcome})
    invoices_table(out_console(), rows, checks)


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The invoice object as JSON.")
def show(config_path: str | None, invoice_id: int, as_json: bool) -> None:
    """One bill: a card with the verdict and why, amount, due date, payment; then its checks."""
    app = App(config_path)
    with Session(app.engine()) as s:
        row = bill_row(s, invoice_id)
        if row is None:
            raise click.ClickException(f"no invoice #{invoice_id} (see `confere invoices`)")
        obj = invoice_json(s, row.invoice)
        msg = s.get(Message, row.invoice.message_id)
    if as_json:
        emit({"id": invoice_id, **obj, "desk": row.desk_json()})
        return
    bill_card(out_console(), row, obj, msg.from_address if msg else None)


def _demo_config_text(demo_toml: str, settings: dict[str, Any]) -> str:
    """The demo's configuration as a file in its folder, so later commands use the same store."""
    import json  # a JSON string is a valid TOML basic string

    db, blobs = settings["database"]["url"], settings["storage"]["blobs"]
    cas = settings.get("authenticity", {}).get("signature_cas", [])
    body = re.sub(r"(?m)^signature_cas = .*$", lambda _m: f"signature_cas = {json.dumps(cas)}",
                  demo_toml)  # resolved: the file lives in the demo folder, not beside demo.toml
    return ("# Written by `confere demo`: the demo's store; use it with --config this file.\n"
            f"[database]\nurl = {json.dumps(db)}\n[storage]\nblobs = {json.dumps(blobs)}\n\n"
            + body)


def _sample_mailbox() -> Path:
    """The bundled sample mailbox, shipped in the wheel as the `fixtures` package's data."""
    return Path(str(resources.files("fixtures").joinpath("mailbox")))


@click.command()
@click.option("--mailbox", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of .eml files (default: the bundled sample mailbox).")
@click.option("--workdir", type=click.Path(file_okay=False), default=".confere-demo",
              show_default=True, help="Where the demo's fresh SQLite store and blobs go.")
def demo(mailbox: str | None, workdir: str) -> None:
    """The whole job on the bundled sample mailbox, into a fresh SQLite store."""
    box = Path(mailbox) if mailbox else _sample_mailbox()
    if not box.is_dir():
        raise click.ClickException(f"sample mailbox not found at {box}: pass --mailbox PATH")
    work = Path(workdir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    demo_toml = resources.files("pipeline.config").joinpath("demo.toml").read_text("utf-8")
    settings = config_mod.tomllib.loads(demo_toml)
    settings["database"] = {"url": f"sqlite:///{(work / 'confere.db').resolve()}"}
    settings["storage"] = {"blobs": str((work / "blobs").resolve())}
    here = Path(str(resources.files("pipeline.config")))  # demo.toml's own paths are from here
    auth = settings.get("authenticity", {})
    auth["signature_cas"] = [str((here / p).resolve()) for p in auth.get("signature_cas", [])]
    config_file = work / "confere.toml"
    config_file.write_text(_demo_config_text(demo_toml, settings), encoding="utf-8")
    app = App(None)
    app._config = config_mod.load(config_file)
    files = _eml_files((str(box),))
    console = out_console()
    console.print(f"confere demo: {len(files)} emails from {box}, store at {work}/confere.db, "
                  f"config at {config_file}", highlight=False, soft_wrap=True)
    rows = _run_ingest(app, files, as_json=False)
    ingest_table(console, rows)
    console.print(summary([line for _name, line in rows]), highlight=False)
    from pipeline.reports.report import build, latest_period, render_report

    with Session(app.engine()) as s:
        period = latest_period(s)
        page = render_report(build(s, app.config, period), "html")
    report_path = (work / f"relatorio-{period}.html").resolve()
    report_path.write_bytes(page)
    console.print(f"relatório de {period}: {report_path}", highlight=False)
    console.print(f"\nthe desk on this store (a web page for the finance team):\n"
                  f"  confere users add admin --role admin --config {config_file}\n"
                  f"  confere web --config {config_file}\n"
                  f"then open http://localhost:{app.config.settings.web.port}/",
                  highlight=False, markup=False)
