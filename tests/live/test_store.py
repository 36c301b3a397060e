"""The store on SQLite and on a real PostgreSQL cluster: migrations, uniqueness, money, time."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from storage import BlobStore, Invoice, Message, from_cents, open_store, to_cents
from storage.db import make_engine, migrate

from harness.daemon import wait_for
from harness.pgcluster import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        yield open_store(f"sqlite:///{tmp_path / 'x.db'}")
        return
    url = request.getfixturevalue("postgres_url")
    eng = open_store(url)
    yield eng
    with eng.begin() as conn:  # other stages' tables refer to these: cascade
        conn.exec_driver_sql("TRUNCATE checks, boletos, invoices, documents, messages CASCADE")


def test_migrations_create_every_table_and_are_idempotent(engine):
    open_store(engine.url.render_as_string(hide_password=False))  # a second run is a no-op
    names = set(inspect(engine).get_table_names())
    assert {"messages", "documents", "invoices", "boletos", "checks", "alembic_version"} <= names


@pytest.fixture(params=["sqlite", "postgresql"])
def new_store_url(request, tmp_path) -> str:
    """The URL of a store nothing has opened yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new.db'}"
    return fresh_database(request.getfixturevalue("postgres_url"), "mig")


def _schema_problems(engine) -> list:
    """What differs between the store's schema and the models (empty when fully migrated)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from storage.schema import metadata

    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def test_a_first_start_that_dies_mid_migration_leaves_a_store_the_next_start_opens(new_store_url):
    engine = make_engine(new_store_url)

    def die_at_the_alerts_table(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("CREATE TABLE ALERTS"):  # migration 5 of 8
            raise KeyboardInterrupt  # what a kill looks like from inside: no clean-up code runs

    event.listen(engine, "before_cursor_execute", die_at_the_alerts_table)
    with pytest.raises(KeyboardInterrupt):
        migrate(engine)
    event.remove(engine, "before_cursor_execute", die_at_the_alerts_table)
    assert inspect(engine).get_table_names() == []  # nothing half made: not even the version
    open_store(new_store_url)  # the next start
    assert _schema_problems(engine) == []


def test_starts_at_once_on_a_new_store_all_open_it(new_store_url, tmp_path):
    code = ("import os, sys, time, pathlib; from storage import open_store\n"
            "gate = pathlib.Path(sys.argv[2]); (gate / str(os.getpid())).touch()\n"
            "while not (gate / 'go').exists(): time.sleep(0.001)\n"
            "open_store(sys.argv[1])")
    starts = [subprocess.Popen([sys.executable, "-c", code, new_store_url, str(tmp_path)],
                               stderr=subprocess.PIPE, text=True) for _ in range(3)]
    wait_for(lambda: sum(1 for p in starts if (tmp_path / str(p.pid)).exists()) == 3)
    (tmp_path / "go").touch()  # all imported: now they migrate at the same moment
    outcomes = [(p.communicate(timeout=120)[1], p.returncode) for p in starts]
    assert [err for err, code in outcomes if code] == []
    assert _schema_problems(make_engine(new_store_url)) == []


def test_a_message_is_unique_by_sha256_and_by_imap_position(engine):
    with Session(engine) as s:
        s.add(Message(sha256="a" * 64, size=1, source="imap", mailbox="m", folder="INBOX",
                      uidvalidity=4_000_000_000, uid=7))
        s.commit()
        s.add(Message(sha256="a" * 64, size=1, source="file"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        s.add(Message(sha256="b" * 64, size=1, source="imap", mailbox="m", folder="INBOX",
                      uidvalidity=4_000_000_000, uid=7))
        with pytest.raises(IntegrityError):
            s.commit()


def test_an_invoice_is_unique_by_provider_and_number(engine):
    with Session(engine) as s:
        m1, m2 = Message(sha256="c" * 64, size=1, source="file"), Message(
            sha256="d" * 64, size=1, source="file")
        s.add_all([m1, m2])
        s.flush()
        s.add(Invoice(message_id=m1.id, vendor="serpro", provider_cnpj="33683111000107",
                      nfse_number="10", verdict="ok"))
        s.commit()
        s.add(Invoice(message_id=m2.id, vendor="serpro", provider_cnpj="33683111000107",
                      nfse_number="10", verdict="ok"))
        with pytest.raises(IntegrityError):
            s.commit()


def test_timestamps_come_back_utc_aware(engine):
    brt = timezone(timedelta(hours=-3))
    sent = datetime(2026, 11, 3, 9, 15, tzinfo=brt)
    with Session(engine) as s:
        s.add(Message(sha256="e" * 64, size=1, source="file", sent_at=sent))
        s.commit()
    with Session(engine) as s:
        got = s.exec(select(Message).where(Message.sha256 == "e" * 64)).one().sent_at
    assert got == sent and got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got.astimezone(UTC).hour == 12


def test_money_round_trips_as_integer_centavos():
    for text in ("0.00", "0.01", "1234.56", "99999999.99"):
        assert from_cents(to_cents(Decimal(text))) == Decimal(text)
    assert isinstance(to_cents(Decimal("1.10")), int)


def test_blob_store_is_content_addressed_and_idempotent(tmp_path):
    store = BlobStore(tmp_path)
    digest = store.put(b"raw email bytes")
    assert store.put(b"raw email bytes") == digest
    assert store.get(digest) == b"raw email bytes"
    assert store.path(digest).parent.parent.name == digest[:2]


def test_blob_store_writes_many_at_once_in_order(tmp_path):
    import hashlib

    store = BlobStore(tmp_path / "blobs")
    datas = [f"part {i}".encode() for i in range(20)] + [b"part 3"]
    shas = store.put_many(datas)
    assert shas == [hashlib.sha256(d).hexdigest() for d in datas]
    assert all(store.get(sha) == d for sha, d in zip(shas, datas, strict=True))
    assert not list((tmp_path / "blobs").rglob(".tmp-*"))
    (tmp_path / "full").write_text("not a directory")
    with pytest.raises(OSError):
        BlobStore(tmp_path / "full").put_many([b"a", b"b"])


def test_sqlite_runs_in_wal_mode(tmp_path):
    eng = open_store(f"sqlite:///{tmp_path / 'w.db'}")
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert create_engine  # the module is imported for PostgreSQL URLs too


def test_migrations_match_the_models_and_downgrade_cleanly(engine):
    from alembic import command

    from storage.db import alembic_config, schema_transaction

    assert _schema_problems(engine) == []
    if engine.dialect.name == "sqlite":  # the shared PostgreSQL database stays migrated
        cfg = alembic_config(engine)
        with schema_transaction(engine) as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        assert inspect(engine).get_table_names() == ["alembic_version"]


def test_a_percent_escaped_password_does_not_break_the_migration_config():
    from storage.db import alembic_config, make_engine

    engine = make_engine("postgresql+psycopg://confere:p%40ss@127.0.0.1:1/confere")
    assert alembic_config(engine).get_main_option("sqlalchemy.url").endswith(
        "confere:p%40ss@127.0.0.1:1/confere")


def test_blobs_written_without_their_own_fsync_are_made_durable_by_one_sync(tmp_path,
                                                                             monkeypatch):
    from storage import blobs as blobs_mod

    calls: list[str] = []
    monkeypatch.setattr(blobs_mod.os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(blobs_mod, "_syncfs", lambda fd: calls.append("syncfs") or 0)
    store = BlobStore(tmp_path / "blobs")
    store.put(b"raw email")
    assert calls == ["fsync"]  # durable by default
    futures = store.put_async([b"boleto.pdf", b"nfse.xml"], durable=False)
    assert [f.result() for f in futures] and calls == ["fsync"]
    store.sync()
    store.put_many([b"a", b"b", b"c"])  # three blobs, one sync
    assert calls == ["fsync", "syncfs", "syncfs"]
    # Where syncfs is missing or refuses, every file system is synced.
    monkeypatch.setattr(blobs_mod, "_syncfs", lambda fd: -1)
    monkeypatch.setattr(blobs_mod.os, "sync", lambda: calls.append("sync"))
    store.sync()  # nothing written since the last sync: nothing to do
    assert calls[-1] == "syncfs"
    store.put(b"d", durable=False)
    store.sync()
    assert calls[-1] == "sync"
