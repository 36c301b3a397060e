"""the desk: users, API tokens, decisions, learned banks, append-only audit log

Revision ID: 0007_desk
Revises: 0005
Create Date: 2026-11-29
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision = "0007_desk"
down_revision = "0005"
branch_labels = None
depends_on = None

_REFUSE = "audit_log is append-only"


def _append_only(dialect: str) -> None:
    """Triggers that refuse UPDATE and DELETE on audit_log (SQLite and PostgreSQL)."""
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN RAISE EXCEPTION '{_REFUSE}'; END $$")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE "
                   "ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse()")


def _drop_append_only(dialect: str) -> None:
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_refuse()")


def upgrade() -> None:
    """Create users, API tokens, decisions, learned banks and the append-only audit log."""
    op.create_table("api_tokens",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("token_hash")
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_name"), ["name"], unique=False)

    op.create_table("users",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("password_hash", sa.Text(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("name")
    )
    op.create_table("audit_log",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column("invoice_id", sa.Integer(), nullable=True),
    sa.Column("before", sa.Text(), nullable=False),
    sa.Column("after", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_invoice_id"), ["invoice_id"], unique=False)

    op.create_table("invoice_decisions",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("invoice_id", sa.Integer(), nullable=False),
    sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column("decided_at", storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("paid_on", sa.Date(), nullable=True),
    sa.Column("paid_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column("proof_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column("proof_name", sa.Text(), nullable=True),
    sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("invoice_id")
    )
    op.create_table("learned_banks",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("vendor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column("bank_code", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column("invoice_id", sa.Integer(), nullable=True),
    sa.Column("learned_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column("learned_at", storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("vendor", "bank_code", name="uq_learned_bank")
    )
    _append_only(op.get_bind().dialect.name)


def downgrade() -> None:
    """Drop the desk's tables (and the audit log's guards)."""
    _drop_append_only(op.get_bind().dialect.name)
    op.drop_table("learned_banks")
    op.drop_table("invoice_decisions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_invoice_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
    op.drop_table("users")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_name"))

    op.drop_table("api_tokens")
