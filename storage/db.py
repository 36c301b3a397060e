"""Engine and session setup for SQLite (WAL) and PostgreSQL, migrated with Alembic on open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
# Key of the PostgreSQL advisory lock that lets one process at a time migrate a database.
MIGRATION_LOCK = 0x636F6E66  # "conf"


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> AlembicConfig:
    """An Alembic config pointing at the bundled migrations."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': a password with '%40' in its URL must be written '%%40'.
    url = engine.url.render_as_string(hide_password=False).replace("%", "%%")
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


@contextmanager
def schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection whose schema changes commit or roll back as one, one migrator at a time."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # DDL is transactional; the lock serialises
            with conn.begin():
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                yield conn
            return
        # pysqlite opens no transaction before DDL, so each CREATE TABLE would commit alone and a
        # start killed mid-migration would leave tables that every later start fails to create.
        # An explicit BEGIN IMMEDIATE makes the migration atomic and waits out a concurrent one.
        dbapi = conn.connection.dbapi_connection
        prior = dbapi.isolation_level  # type: ignore[union-attr]
        dbapi.isolation_level = None  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            dbapi.isolation_level = prior  # type: ignore[union-attr]


def _at_head(engine: Engine, cfg: AlembicConfig) -> bool:
    """Whether the store's schema is at the newest revision (a plain read: takes no write lock)."""
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == set(ScriptDirectory.from_config(cfg).get_heads())


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent, atomic, safe to run concurrently)."""
    cfg = alembic_config(engine)
    if _at_head(engine, cfg):  # a reader (`confere status`) opens a store another process locks
        return
    with schema_transaction(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_store(url: str) -> Engine:
    """Engine for the URL with the schema migrated; creates the SQLite file's folder."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    migrate(engine)
    return engine


def session(engine: Engine) -> Session:
    """A session that keeps loaded objects usable after commit."""
    return Session(engine, expire_on_commit=False)
