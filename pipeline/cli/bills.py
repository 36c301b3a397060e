"""Subcommands about bills themselves: `init`, `ingest`, `invoices`, `show`, `demo`."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress
from sqlmodel import Session, select

from pipeline.cli.app import App, config_option, emit, err, out_console
from pipeline.cli.display import bill_card, ingest_table, invoices_table, summary
from pipeline.ingest.ingestor import Ingestor
from pipeline.ingest.serialize import ingest_line, invoice_json
from storage import Invoice, Message


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
@click.option("--json", "as_json", is_flag=True, help="One invoice object per line.")
def invoices(config_path: str | None, as_json: bool) -> None:
    """List stored bills, newest first."""
    app = App(config_path)
    engine = app.engine()
    with Session(engine) as s:
        stored = s.exec(select(Invoice).order_by(Invoice.id.desc())).all()
        items = [(inv.id, invoice_json(s, inv)) for inv in stored]
    if as_json:
        for inv_id, obj in items:
            emit({"id": inv_id, **obj})
    else:
        invoices_table(out_console(), items)


@click.command()
@config_option
@click.argument("invoice_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The invoice object as JSON.")
def show(config_path: str | None, invoice_id: int, as_json: bool) -> None:
    """One bill with its checks."""
    app = App(config_path)
    with Session(app.engine()) as s:
        inv = s.get(Invoice, invoice_id)
        if inv is None:
            raise click.ClickException(f"no invoice #{invoice_id} (see `confere invoices`)")
        obj = invoice_json(s, inv)
        msg = s.get(Message, inv.message_id) if inv.message_id is not None else None
    if as_json:
        emit({"id": invoice_id, **obj})
        return
    bill_card(out_console(), invoice_id, obj, msg.from_address if msg else None)


def _write_demo_config(work: Path) -> Path:
    """The demo's config as a file in its folder, so later commands can take `--config`."""
    text = resources.files("pipeline.config").joinpath("demo.toml").read_text("utf-8")
    db_url = json.dumps(f"sqlite:///{(work / 'confere.db').resolve().as_posix()}")
    blobs = json.dumps((work / "blobs").resolve().as_posix())
    path = work / "confere.toml"
    path.write_text(f"{text.rstrip()}\n\n[database]\nurl = {db_url}\n\n"
                    f"[storage]\nblobs = {blobs}\n", "utf-8")
    return path


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
    config_file = _write_demo_config(work)
    app = App(str(config_file))
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
