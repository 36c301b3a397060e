"""The store's SQL in one place: transactions, dialect-specific upserts, bulk inserts, locks.

Stages write through these instead of choosing between SQLite and PostgreSQL statements
themselves; only SQLite and PostgreSQL are supported (storage.db.make_engine).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import CursorResult, Table, bindparam, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

Row = Mapping[str, Any]


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """`with transaction(engine) as s:` commits when the block ends, rolls back if it raises."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def _table(model: type[SQLModel] | Table) -> Table:
    return model if isinstance(model, Table) else model.__table__  # type: ignore[attr-defined]


def _connection(session: Session | Connection) -> Connection:
    """The session's connection (in its transaction): a Core statement run there skips the
    ORM's execution layer and its autoflush. For rows whose parents are already written."""
    return session.connection() if isinstance(session, Session) else session


def _dialect(session: Session | Connection) -> Any:
    """SQLAlchemy's module for the store's dialect (PostgreSQL or SQLite), for ON CONFLICT."""
    bind = session.get_bind() if isinstance(session, Session) else session
    return postgresql if bind.dialect.name == "postgresql" else sqlite


def _insert(session: Session | Connection, model: type[SQLModel] | Table) -> Any:
    """The dialect's INSERT (PostgreSQL's or SQLite's), which knows ON CONFLICT."""
    return _dialect(session).insert(_table(model))


def insert_ignore(session: Session | Connection, model: type[SQLModel] | Table,
                  rows: Row | Sequence[Row], key: Sequence[str]) -> int:
    """INSERT ... ON CONFLICT (key) DO NOTHING; how many rows were written.

    Counted from RETURNING, not rowcount: on PostgreSQL a single-row INSERT into a table with a
    serial key reports rowcount -1 (SQLAlchemy fetches the new key), which read as "not written".
    """
    table = _table(model)
    stmt = (_insert(session, table).values(rows)
            .on_conflict_do_nothing(index_elements=list(key))
            .returning(*table.primary_key.columns))
    return len(session.execute(stmt).all())


def upsert(session: Session | Connection, model: type[SQLModel] | Table, rows: Sequence[Row], *,
           key: Sequence[str], set_: Mapping[str, Any], where: ColumnElement[bool] | None = None,
           returning: Sequence[Any] = ()) -> CursorResult[Any]:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET set_ [WHERE where] [RETURNING returning].

    In set_ and where, the table's columns are the existing row's values (as in SQL).
    """
    stmt = _insert(session, model).values(list(rows)).on_conflict_do_update(
        index_elements=list(key), set_=dict(set_), where=where)
    if returning:
        stmt = stmt.returning(*returning)
    return session.execute(stmt)  # type: ignore[return-value]


def replace_rows(session: Session | Connection, model: type[SQLModel] | Table,
                 rows: Sequence[Row], *, key: Sequence[str], keep: Sequence[str] = ()) -> None:
    """INSERT, or on a conflict on key overwrite the row's other columns but `keep`. Held
    when deferring.

    The statement takes its values as parameters (`excluded`), so it is compiled once per
    table and columns, not once per call as a statement with the values inlined is.
    """
    if not rows:
        return
    stmt = _replace_statement(_dialect(session), _table(model), tuple(rows[0]), tuple(key),
                              tuple(keep))
    _write(session, stmt, rows)


@functools.lru_cache(maxsize=64)
def _replace_statement(dialect: Any, table: Table, columns: tuple[str, ...],
                       key: tuple[str, ...], keep: tuple[str, ...]) -> Any:
    """Built once per table and columns (`excluded` copies every column of the table)."""
    stmt = dialect.insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in columns if c not in key and c not in keep})


def bulk_insert(session: Session | Connection, model: type[SQLModel] | Table,
                rows: Sequence[Row]) -> None:
    """One executemany INSERT of plain rows, no ORM objects (a bill's checks, say), on the
    session's connection: pending ORM changes are not flushed first. Held when deferring."""
    if rows:
        _write(session, _insert_statement(_table(model)), rows)


def update_rows(session: Session | Connection, model: type[SQLModel] | Table,
                rows: Sequence[Row]) -> None:
    """UPDATE rows by id: each row is {"id": ..., column: new value, ...}, the same columns in
    every row (one executemany). Held when deferring."""
    if rows:
        columns = tuple(c for c in rows[0] if c != "id")
        _write(session, _update_statement(_table(model), columns),
               [{"row_id": r["id"], **{c: r[c] for c in columns}} for r in rows])


def new_row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """A new row for a Core INSERT: these values, and the model's defaults for its other
    columns (its default factories called), as constructing the model fills them, at a tenth
    of the cost (a table model's constructor does not validate either)."""
    row = {name: values.pop(name) if name in values else info.get_default(
        call_default_factory=True) for name, info in _column_fields(model)}
    if values:
        raise TypeError(f"{model.__name__} has no column {', '.join(values)}")
    if missing := [name for name, value in row.items() if value is PydanticUndefined]:
        raise TypeError(f"{model.__name__} needs a value for {', '.join(missing)}")
    return row


@functools.lru_cache(maxsize=64)
def _column_fields(model: type[SQLModel]) -> tuple[tuple[str, Any], ...]:
    """The model's fields that are columns of its table, but its id."""
    table = _table(model)
    return tuple((name, info) for name, info in model.model_fields.items()
                 if name in table.c and not table.c[name].primary_key)


def row_values(obj: SQLModel) -> dict[str, Any]:
    """A model object's column values but its id, for a Core INSERT."""
    return {c.name: getattr(obj, c.name) for c in _table(type(obj)).columns if c.name != "id"}


def insert_row(session: Session | Connection, obj: SQLModel) -> int:
    """INSERT one model object's values by Core, not flushed through the ORM; its new id.

    The object stays out of the session (transient): nothing is tracked or written again.
    Never deferred: the id is read back now.
    """
    # The values as parameters, not in the statement: it is then compiled once, and no bind
    # parameter objects are built per call.
    result = _connection(session).execute(_insert_statement(_table(type(obj))), row_values(obj))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


@functools.lru_cache(maxsize=64)
def _insert_statement(table: Table) -> Any:
    return insert(table)


@functools.lru_cache(maxsize=64)
def _update_statement(table: Table, columns: tuple[str, ...]) -> Any:
    return (update(table).where(table.c.id == bindparam("row_id"))
            .values({c: bindparam(c) for c in columns}))


# -- deferred writes: a batch of bills, one executemany per statement --------------------------

DEFERRED = "confere.deferred_writes"  # the key of a session's held writes in session.info
Held = dict[tuple[Any, tuple[str, ...]], list[Row]]


def _held(session: Session | Connection) -> Held | None:
    """The session's held writes when it is deferring, else None."""
    return session.info.get(DEFERRED) if isinstance(session, Session) else None


def _write(session: Session | Connection, stmt: Any, rows: Sequence[Row]) -> None:
    """Run a write that returns nothing now, or hold it when the session is deferring."""
    held = _held(session)
    if held is None:
        _run(_connection(session), stmt, rows)
    else:
        held.setdefault((stmt, tuple(rows[0])), []).extend(rows)


COPY_MIN_ROWS = 8  # a plain INSERT of this many rows goes by COPY on PostgreSQL


def _run(conn: Connection, stmt: Any, rows: Sequence[Row]) -> None:
    """One write over many rows: an executemany, or on PostgreSQL a COPY when it is a plain
    INSERT of many rows (a batch's checks: a row costs the server and the client a tenth of
    an INSERT's, with no statement per row)."""
    if len(rows) >= COPY_MIN_ROWS and conn.dialect.name == "postgresql":
        plan = _copy_plan(conn.dialect, stmt, tuple(rows[0]))
        if plan is not None:
            sql, columns = plan
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            driver_error = conn.dialect.loaded_dbapi.Error
            try:
                with cursor, cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row([f(row[c]) if f else row[c] for c, f in columns])
            except driver_error as exc:  # as SQLAlchemy raises it (a duplicate: IntegrityError)
                raise DBAPIError.instance(sql, None, exc, driver_error) from exc
            return
    conn.execute(stmt, list(rows))


Processor = Callable[[Any], Any] | None


@functools.lru_cache(maxsize=64)
def _copy_plan(dialect: Any, stmt: Any, columns: tuple[str, ...]
               ) -> tuple[str, tuple[tuple[str, Processor], ...]] | None:
    """COPY ... FROM STDIN for a plain INSERT (bulk_insert's) of these columns, with each
    column's bind processor (what SQLAlchemy would apply: UTC timestamps, say); None when a
    column left out has a Python-side default, which only an INSERT through SQLAlchemy fills."""
    table = getattr(stmt, "table", None)
    if not isinstance(table, Table) or stmt is not _insert_statement(table):
        return None
    if any(c.default is not None and c.name not in columns for c in table.columns):
        return None
    quote = dialect.identifier_preparer.quote
    sql = (f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           "FROM STDIN")
    return sql, tuple((c, table.c[c].type.bind_processor(dialect)) for c in columns)


@contextlib.contextmanager
def deferring(session: Session) -> Iterator[None]:
    """Hold the session's writes that return nothing (bulk_insert, update_rows, replace_rows)
    until flush_deferred, which runs each statement once over all its rows.

    For a batch of bills in one transaction: a table then costs one round trip a batch, not
    one a bill. Code that reads rows written in the batch calls flush_deferred first; the
    block must flush before it ends (a commit with held rows would lose them).
    """
    held: Held = {}
    session.info[DEFERRED] = held
    try:
        yield
    except BaseException:
        held.clear()
        raise
    finally:
        session.info.pop(DEFERRED, None)
    if held:
        raise RuntimeError("deferred writes were not flushed")


def flush_deferred(session: Session | Connection) -> None:
    """Run the held writes, in the order their statements were first held (no-op when none:
    a read that needs the batch's rows calls this first)."""
    held = _held(session)
    if not held:
        return
    conn = _connection(session)
    for (stmt, _columns), rows in held.items():
        _run(conn, stmt, rows)
    held.clear()


SQLITE_ROWS = 500  # rows per multi-row INSERT on SQLite (far below its 32,766 variables)


def driver_insert_ignore(conn: Connection, table: str, columns: Sequence[str],
                         rows: Sequence[Sequence[Any]], key: str) -> int:
    """Tuples straight to the DB-API driver, ON CONFLICT (key) DO NOTHING; how many were new.

    For a million rows the per-row work of a Core insert costs more than the database does.
    Values must already be what the driver takes (on SQLite, datetimes as text). SQLite gets
    multi-row statements of SQLITE_ROWS rows (fewer steps); PostgreSQL one executemany.
    """
    if not rows:
        return 0
    cols = ", ".join(columns)
    is_sqlite = conn.dialect.name == "sqlite"
    mark = "?" if is_sqlite else "%s"
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    conflict = f" ON CONFLICT ({key}) DO NOTHING"
    sql = f"INSERT INTO {table} ({cols}) VALUES {one}{conflict}"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if not is_sqlite:
            cursor.executemany(sql, rows)
            return max(cursor.rowcount, 0)
        whole = len(rows) - len(rows) % SQLITE_ROWS
        new = 0
        if whole:
            many = f"INSERT INTO {table} ({cols}) VALUES " + ", ".join(
                [one] * SQLITE_ROWS) + conflict
            for i in range(0, whole, SQLITE_ROWS):
                cursor.execute(many, list(chain.from_iterable(rows[i:i + SQLITE_ROWS])))
                new += max(cursor.rowcount, 0)
        if whole < len(rows):
            cursor.executemany(sql, rows[whole:])
            new += max(cursor.rowcount, 0)
        return new
    finally:
        cursor.close()


@contextlib.contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True in exactly one process at a time for `name` (PostgreSQL advisory lock).

    On SQLite, always True: it runs a single daemon (pipeline.mail.leases.sqlite_daemon_lock).
    """
    if engine.dialect.name != "postgresql":
        yield True
        return
    lock_key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key}).scalar()
        try:
            yield bool(got)
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
            conn.commit()
