"""storage/sql.py on SQLite and a real PostgreSQL: one call, the same outcome on both stores."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage import Message, open_store
from storage.mailbox_models import MessageLease
from storage.sql import (
    COPY_MIN_ROWS,
    advisory_lock,
    bulk_insert,
    deferring,
    flush_deferred,
    insert_ignore,
    new_row,
    transaction,
    update_rows,
    upsert,
)

from harness.pgcluster import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'x.db'}")
    return open_store(fresh_database(request.getfixturevalue("postgres_url"), "sql"))


def _message(sha: str) -> dict:
    """A row as the stages write it: the model's defaults filled in (Core inserts skip them)."""
    return Message(sha256=sha, source="file", size=1).model_dump(exclude={"id"})


def _count(engine, model) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_transaction_commits_at_the_end_and_rolls_back_on_error(engine):
    with transaction(engine) as s:
        s.add(Message(sha256="a" * 64, source="file", size=1))
    with pytest.raises(RuntimeError), transaction(engine) as s:
        s.add(Message(sha256="b" * 64, source="file", size=1))
        s.flush()
        raise RuntimeError("stage failed half-way")
    with Session(engine) as s:
        assert [m.sha256[0] for m in s.exec(select(Message)).all()] == ["a"]


def test_insert_ignore_writes_once_and_says_how_many(engine):
    with transaction(engine) as s:
        assert insert_ignore(s, Message, _message("c" * 64), key=["sha256"]) == 1
    with transaction(engine) as s:
        assert insert_ignore(s, Message, _message("c" * 64), key=["sha256"]) == 0
    assert _count(engine, Message) == 1


def test_upsert_updates_only_where_allowed_and_returns_the_rows_it_touched(engine):
    now = datetime.now(UTC)
    with transaction(engine) as s:
        bulk_insert(s, Message, [_message(f"{i:064d}") for i in range(3)])
    with Session(engine) as s:
        ids = sorted(s.exec(select(Message.id)).all())
    t = MessageLease.__table__.c

    def claim(owner: str, until: datetime) -> list[int]:
        with transaction(engine) as s:
            return sorted(upsert(
                s, MessageLease, [{"message_id": i, "owner": owner, "lease_until": until,
                                   "attempts": 1} for i in ids],
                key=["message_id"], set_={"owner": owner, "attempts": t.attempts + 1},
                where=t.lease_until < now, returning=[t.message_id]).scalars())

    assert claim("first", now + timedelta(minutes=5)) == ids  # new rows: all inserted
    assert claim("second", now + timedelta(minutes=5)) == []  # leases still held: none
    with Session(engine) as s:
        leases = s.exec(select(MessageLease)).all()
    assert {(ml.owner, ml.attempts) for ml in leases} == {("first", 1)}


def test_bulk_insert_of_nothing_is_no_statement(engine):
    with transaction(engine) as s:
        bulk_insert(s, Message, [])
    assert _count(engine, Message) == 0


def test_advisory_lock_is_held_by_one_holder_at_a_time(engine):
    seen: list[bool] = []

    def another_process_tries() -> None:
        with advisory_lock(engine, "reconcile") as got:
            seen.append(got)

    with advisory_lock(engine, "reconcile") as first:
        other = threading.Thread(target=another_process_tries)
        other.start()
        other.join()
    another_process_tries()  # released: the next holder gets it
    assert first is True
    # PostgreSQL: a second session is refused while the first holds it; SQLite runs one daemon.
    assert seen == [engine.dialect.name != "postgresql", True]


def test_deferred_writes_wait_for_the_flush_and_run_once_per_statement(engine):
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    with transaction(engine) as s, deferring(s):
        bulk_insert(s, Message, [_message("d" * 64)])
        bulk_insert(s, Message, [_message("e" * 64)])
        update_rows(s, Message, [{"id": 1, "status": "invoice"}])
        assert statements == []  # held, not written
        assert _count(engine, Message) == 0
        statements.clear()
        flush_deferred(s)
        # One INSERT for both rows of the two calls, one UPDATE.
        assert [q.split()[0] for q in statements] == ["INSERT", "UPDATE"]
    with Session(engine) as s:
        rows = s.exec(select(Message).order_by(Message.id)).all()
    assert [(m.sha256[0], m.status) for m in rows] == [("d", "invoice"), ("e", "pending")]


def test_deferred_writes_not_flushed_are_an_error_and_a_failure_drops_them(engine):
    with pytest.raises(RuntimeError, match="not flushed"), transaction(engine) as s, deferring(s):
        bulk_insert(s, Message, [_message("f" * 64)])
    with pytest.raises(ValueError), transaction(engine) as s, deferring(s):
        bulk_insert(s, Message, [_message("g" * 64)])
        raise ValueError("a bill failed")
    assert _count(engine, Message) == 0
    with transaction(engine) as s:  # without deferring, a write runs at once
        bulk_insert(s, Message, [_message("h" * 64)])
        assert s.exec(select(func.count()).select_from(Message)).one() == 1


def test_many_rows_are_written_as_given_and_roll_back_together(engine):
    """A batch's worth of rows (PostgreSQL takes them by COPY): every value reads back as an
    INSERT writes it, a zoned timestamp as the same instant, a None as NULL; a failure drops
    them all, a duplicate is the IntegrityError an INSERT raises; a row that leaves out a
    column with a default still gets the default."""
    brasilia = timezone(timedelta(hours=-3))
    rows = []
    for i in range(COPY_MIN_ROWS + 4):
        row = _message(f"{i:064x}")
        row.update(size=1000 + i, subject=None if i % 2 else f"Fatura {i} – março",
                   received_at=datetime(2026, 11, 2, 10, i, tzinfo=brasilia))
        rows.append(row)
    with pytest.raises(ValueError), transaction(engine) as s:
        bulk_insert(s, Message, rows)
        raise ValueError("a bill failed")
    assert _count(engine, Message) == 0
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    with transaction(engine) as s, deferring(s):
        bulk_insert(s, Message, rows[:5])
        bulk_insert(s, Message, rows[5:])
        flush_deferred(s)
    if engine.dialect.name == "postgresql":
        assert not [q for q in statements if q.startswith("INSERT")]  # one COPY, no INSERT
    with Session(engine) as s:
        stored = s.exec(select(Message).order_by(Message.id)).all()
    assert [(m.sha256, m.size, m.subject, m.status) for m in stored] == [
        (r["sha256"], r["size"], r["subject"], r["status"]) for r in rows]
    assert [m.received_at for m in stored] == [r["received_at"] for r in rows]
    assert stored[0].received_at.hour == 13 and stored[0].received_at.tzinfo is not None
    with pytest.raises(IntegrityError), transaction(engine) as s:  # as an INSERT says it
        bulk_insert(s, Message, [_message(f"{i:063x}y") for i in range(COPY_MIN_ROWS)]
                    + [rows[0]])
    without_status = [{k: v for k, v in _message(f"{i:063x}z").items() if k != "status"}
                      for i in range(COPY_MIN_ROWS)]
    with transaction(engine) as s:
        bulk_insert(s, Message, without_status)
    with Session(engine) as s:
        assert {m.status for m in s.exec(select(Message).where(
            Message.sha256.endswith("z"))).all()} == {"pending"}  # type: ignore[attr-defined]


def test_a_new_row_has_what_the_model_would_fill_in():
    made = Message(sha256="a" * 64, source="file", size=1).model_dump(exclude={"id"})
    row = new_row(Message, sha256="a" * 64, source="file", size=1)
    assert row.keys() == made.keys() and row["status"] == "pending"
    assert {k for k in row if row[k] != made[k]} <= {"received_at"}  # each one's own now()
    assert abs(row["received_at"] - made["received_at"]) < timedelta(seconds=5)
    with pytest.raises(TypeError, match="no column colour"):
        new_row(Message, sha256="b" * 64, source="file", size=1, colour="blue")
    with pytest.raises(TypeError, match="needs a value for sha256"):
        new_row(Message, source="file", size=1)
