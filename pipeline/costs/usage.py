"""Importing metered usage (CSV or JSON Lines): streamed, batched, idempotent by request id."""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine

from parsers import cnpj as cnpj_rules
from parsers.errors import RowError
from parsers.months import SAO_PAULO, MonthCache
from parsers.text import strip_accents
from pipeline.config.settings import Config
from pipeline.costs.pricing import USAGE_TYPES, is_billable, type_from_path
from pipeline.costs.usage_read import Layout, Row, inspect_file, quoted_rows, span_rows, split_spans
from storage.db import make_engine
from storage.sql import driver_insert_ignore

BATCH = 10_000
PARALLEL_BYTES = 16 << 20  # files above this are parsed by two processes
TYPE_WORDS = {"consulta": "consulta", "consultar": "consulta", "emissao": "emissao",
              "emitir": "emissao", "declaracao": "declaracao", "declarar": "declaracao",
              "apoiar": "apoiar", "apoio": "apoiar", "monitorar": "monitorar",
              "monitoramento": "monitorar"}


@dataclass(frozen=True)
class BadRow:
    """A row that was not imported: its line number, the field at fault and why."""

    line: int
    field: str
    problem: str


@dataclass
class ImportReport:
    """What an import did: rows read, new events, duplicates, bad rows, months touched."""

    read: int = 0
    imported: int = 0
    duplicates: int = 0
    bad: list[BadRow] = field(default_factory=list)
    keys: set[tuple[str | None, str | None, str]] = field(default_factory=set)




COLUMNS = ("request_id", "occurred_at", "month", "contract", "contratante", "type", "id_sistema",
           "id_servico", "status", "billable", "source")


def insert_events(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    """Insert event rows (tuples in COLUMNS order), skipping known request ids; returns new ones.

    `occurred_at` is an aware datetime, or for SQLite already the text RowReader makes.
    The rows go straight to the driver (storage.sql.driver_insert_ignore): at a million rows the
    per-row work of a Core insert costs more than the database does.
    """
    if rows and conn.dialect.name == "sqlite" and isinstance(rows[0][1], datetime):
        rows = [(r[0], _sqlite_time(r[1]), *r[2:]) for r in rows]
    return driver_insert_ignore(conn, "usage_events", COLUMNS, rows, key="request_id")


def _sqlite_time(moment: datetime) -> str:
    """UTC without offset, as SQLAlchemy's SQLite DATETIME (and storage.types) keeps it."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def usage_type(value: str) -> str:
    """A usage type from `type` (consulta...) words, accents and case ignored."""
    folded = strip_accents(value.strip().lower())
    if folded in TYPE_WORDS:
        return TYPE_WORDS[folded]
    raise RowError("type", f"{value!r} is not a type (use {', '.join(USAGE_TYPES)})")


def _path_type(path: str) -> str:
    found = type_from_path(path)
    if found is None:
        raise RowError("path", f"{path!r} is not an Integra Contador path "
                       "(…/Consultar, Emitir, Declarar, Apoiar, Monitorar)")
    return found


def _cnpj(value: str) -> str:
    digits = cnpj_rules.normalize(value)
    if len(digits) != 14:
        raise RowError("contratante", f"{value!r} is not a CNPJ")
    return digits


BRAZILIAN_TIMES = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y")


def brazilian_time(stamp: str) -> datetime:
    """`dd/mm/aaaa hh:mm[:ss]` as a pt-BR spreadsheet saves it: São Paulo's clock."""
    for pattern in BRAZILIAN_TIMES:
        try:
            return datetime.strptime(stamp, pattern).replace(tzinfo=SAO_PAULO)
        except ValueError:
            continue
    raise RowError("timestamp", f"{stamp!r} is neither ISO 8601 nor dd/mm/aaaa hh:mm")


class RowReader:
    """Turns one raw row (a dict of strings) into an event tuple in COLUMNS order.

    Values seen often (paths, types, CNPJs) are resolved once and cached: a usage log repeats
    a handful of them a million times.
    """

    def __init__(self, by_contratante: dict[str, str], default_contract: str | None,
                 source: str = "import", *, sqlite_time: bool = False,
                 known: frozenset[str] | None = None) -> None:
        self.by_contratante = by_contratante
        self.known = known  # configured contract numbers; None: any
        self.sqlite_time = sqlite_time
        self.default_contract = default_contract
        self.source = source
        self.months = MonthCache()
        self._paths: dict[str, str] = {}
        self._types: dict[str, str] = {}
        self._cnpjs: dict[str, str] = {}

    def __call__(self, raw: dict[str, str | None]) -> tuple[Any, ...]:
        """The event tuple; RowError naming the field when a value is missing or wrong."""
        get = raw.get
        request_id = (get("request_id") or "").strip()
        if not request_id:
            raise RowError("request_id", "missing")
        if len(request_id) > 128:
            raise RowError("request_id", "longer than 128 characters")
        stamp = (get("timestamp") or "").strip()
        if not stamp:
            raise RowError("timestamp", "missing")
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            moment = brazilian_time(stamp)
        if moment.tzinfo is None:
            raise RowError("timestamp", f"{stamp!r} has no UTC offset (add -03:00 or Z)")
        contratante = get("contratante") or None
        if contratante is not None:
            cached = self._cnpjs.get(contratante)
            contratante = cached or self._cnpjs.setdefault(contratante, _cnpj(contratante))
        contract = ((get("contract") or "").strip() or self.by_contratante.get(contratante or "")
                    or self.default_contract)
        if not contract and not contratante:
            raise RowError("contract", "missing: give `contract` or `contratante`")
        if contract and self.known is not None and contract not in self.known:
            raise RowError("contract", f"{contract!r} is not a configured contract "
                           f"(configured: {', '.join(sorted(self.known)) or 'none'})")
        kind = get("type")
        if kind:
            typ = self._types.get(kind) or self._types.setdefault(kind, usage_type(kind))
        else:
            path = get("path")
            if not path:
                raise RowError("type", "missing: give `type` or `path`")
            typ = self._paths.get(path) or self._paths.setdefault(path, _path_type(path))
        status_text = get("status") or ""
        try:
            status = int(status_text)
        except ValueError:
            status = 0
        if not 100 <= status <= 599:
            raise RowError("status", f"{status_text!r} is not an HTTP status")
        utc = moment.astimezone(UTC)
        # SQLite keeps UTC as text without offset; insert_events takes it as is.
        when = utc.isoformat(" ", "microseconds")[:26] if self.sqlite_time else utc
        return (request_id, when, self.months.month(utc),
                contract or None, contratante, typ, get("id_sistema") or None,
                get("id_servico") or None, status, is_billable(typ, status), self.source)


def consume(engine: Engine, rows: Iterator[Row], to_row: RowReader, batch: int,
            on_batch: Any = None) -> ImportReport:
    """Turn rows into events and write them in batches; the report of this stream."""
    report = ImportReport()
    pending: list[tuple[Any, ...]] = []
    keys, bad = report.keys, report.bad
    done = 0

    def write(done: int) -> None:
        new = _write(engine, pending)
        report.imported += new
        report.duplicates += len(pending) - new
        pending.clear()
        if on_batch is not None:
            on_batch(done)

    for number, item, done in rows:
        report.read += 1
        if isinstance(item, str):
            bad.append(BadRow(number, "line", item))
            continue
        try:
            row = to_row(item)
        except RowError as exc:
            bad.append(BadRow(number, exc.field, exc.problem))
            continue
        keys.add((row[3], row[4], row[2]))
        pending.append(row)
        if len(pending) >= batch:
            write(done)
    write(done)
    return report


def _write(engine: Engine, rows: list[tuple[Any, ...]]) -> int:
    if not rows:
        return 0
    with engine.begin() as conn:
        return insert_events(conn, rows)


def _merge(into: ImportReport, part: ImportReport) -> None:
    into.read += part.read
    into.imported += part.imported
    into.duplicates += part.duplicates
    into.bad.extend(part.bad)
    into.keys |= part.keys


def import_file(engine: Engine, config: Config, path: Path, *, contract: str | None = None,
                progress: bool | None = None, batch: int = BATCH,
                workers: int | None = None) -> ImportReport:
    """Stream a usage file into the store in batches; bad rows are reported, the rest kept.

    A large file without quoted CSV fields is cut at line ends and parsed by two processes
    (the database takes their batches in turn), so both cores work.
    """
    layout = inspect_file(path)
    size = path.stat().st_size
    by_contratante = {c: k.number for k in config.settings.contracts for c in k.contratantes}
    known = frozenset(k.number for k in config.settings.contracts) or None
    show = sys.stderr.isatty() if progress is None else progress
    if workers is None:
        workers = 2 if size > PARALLEL_BYTES and (os.cpu_count() or 1) > 1 else 1
    report = ImportReport()
    with _progress(show, size - layout.body, path.name) as bar:
        def advance(done: int) -> None:
            if bar is not None:
                bar[0].update(bar[1], advance=done)

        if layout.quoted or workers <= 1:
            reader = RowReader(by_contratante, contract,
                               sqlite_time=engine.dialect.name == "sqlite", known=known)
            rows = quoted_rows(path, layout) if layout.quoted else span_rows(
                path, layout, layout.body, size, 1 if layout.kind == "jsonl" else 2)
            last = [layout.body]

            def step(done: int) -> None:
                advance(done - last[0])
                last[0] = done

            _merge(report, consume(engine, rows, reader, batch, step))
        else:
            url = engine.url.render_as_string(hide_password=False)
            engine.dispose()  # no pooled connection may cross the fork
            for part in _parallel(url, path, layout, workers, by_contratante, contract, batch,
                                  advance, known):
                _merge(report, part)
    report.bad.sort(key=lambda b: b.line)
    return report


def _parallel(url: str, path: Path, layout: Layout, workers: int, by_contratante: dict,
              contract: str | None, batch: int, advance: Any,
              known: frozenset[str] | None = None) -> list[ImportReport]:
    # fork: no re-import of the caller's main module; the children open their own engine.
    ctx = multiprocessing.get_context("fork")
    results_queue = ctx.Queue()
    spans = split_spans(path, layout, workers)
    procs = [ctx.Process(target=_span_worker, args=(
        url, str(path), layout, span, by_contratante, contract, batch, results_queue, known),
        daemon=True)
        for span in spans]
    for proc in procs:
        proc.start()
    results: list[ImportReport] = []
    try:
        while len(results) < len(procs):
            try:
                kind, value = results_queue.get(timeout=1.0)
            except queue_mod.Empty:  # check that nobody died
                if any(not p.is_alive() and p.exitcode for p in procs):
                    raise RuntimeError(f"{path}: an import process failed") from None
                continue
            if kind == "progress":
                advance(value)
            elif kind == "done":
                results.append(value)
            else:
                raise ValueError(value)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
    return results


def _span_worker(url: str, path: str, layout: Layout, span: tuple[int, int, int],
                 by_contratante: dict, contract: str | None, batch: int, queue: Any,
                 known: frozenset[str] | None = None) -> None:
    """One import process: parse a span of the file and write its batches."""
    start, end, first_line = span
    engine = make_engine(url)
    last = [start]

    def step(done: int) -> None:
        queue.put(("progress", done - last[0]))
        last[0] = done

    try:
        reader = RowReader(by_contratante, contract, sqlite_time=engine.dialect.name == "sqlite",
                           known=known)
        rows = span_rows(Path(path), layout, start, end, first_line)
        queue.put(("done", consume(engine, rows, reader, batch, step)))
    except Exception as exc:
        queue.put(("error", f"{path}: {exc}"))
    finally:
        engine.dispose()


def _progress(show: bool, total: int, label: str) -> Any:
    """A rich progress bar on stderr when shown, else nothing."""
    if not show:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    class _Bar:
        def __enter__(self) -> tuple[Progress, Any]:
            self.p = Progress("[progress.description]{task.description}", BarColumn(),
                              DownloadColumn(), TimeRemainingColumn(),
                              console=Console(stderr=True), transient=True)
            self.p.__enter__()
            return self.p, self.p.add_task(f"importing {label}", total=total)

        def __exit__(self, *exc: object) -> None:
            self.p.__exit__(*exc)

    return _Bar()
