"""the desk's bill list: open bills by due date from an index

Revision ID: 0008_desk_web
Revises: 0007_desk
Create Date: 2026-11-29
"""
from alembic import op

revision = "0008_desk_web"
down_revision = "0007_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index unpaid bills by due date: "A pagar" reads a page of them without a sort."""
    op.create_index("ix_invoice_open_due", "invoices", ["paid_at", "due_date"], unique=False)


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_invoice_open_due", table_name="invoices")
