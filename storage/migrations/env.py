"""Alembic environment: runs on the connection handed in by storage.db.migrate."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

# Each import registers its tables on SQLModel.metadata.
import storage.alert_models
import storage.desk_models
import storage.mailbox_models
import storage.models
import storage.usage_models
import storage.verification_models  # noqa: F401

target_metadata = SQLModel.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
