"""mail health: post-action failures and arrival time on messages, error time on cursors

Revision ID: 0006_mail_health
Revises: 0005
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0006_mail_health"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the columns that make a refused post-action and a folder's health visible."""
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("internal_date", storage.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("action_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("action_attempts", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("action_retry_at",
                                      storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_messages_action_retry_at"), ["action_retry_at"],
                              unique=False)
    with op.batch_alter_table("mailbox_cursors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_error_at", storage.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("server_uidnext", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("mailbox_cursors", schema=None) as batch_op:
        batch_op.drop_column("server_uidnext")
        batch_op.drop_column("last_error_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_action_retry_at"))
        batch_op.drop_column("action_retry_at")
        batch_op.drop_column("action_attempts")
        batch_op.drop_column("action_error")
        batch_op.drop_column("internal_date")
