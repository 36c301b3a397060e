"""usage metering, price tables, metric declarations, reconciliation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('metric_declarations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('company_cnpj', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('gross_cents', sa.BigInteger(), nullable=False),
    sa.Column('cancellations_cents', sa.BigInteger(), nullable=False),
    sa.Column('taxes_cents', sa.BigInteger(), nullable=False),
    sa.Column('discounts_cents', sa.BigInteger(), nullable=False),
    sa.Column('net_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source_detail', sa.Text(), nullable=True),
    sa.Column('updated_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('vendor', 'company_cnpj', 'year', name='uq_metric_vendor_company_year')
    )
    op.create_index(op.f('ix_metric_declarations_vendor'), 'metric_declarations', ['vendor'], unique=False)
    op.create_table('usage_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('occurred_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('contract', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('contratante', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=True),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('id_sistema', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('id_servico', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('billable', sa.Boolean(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', name='uq_usage_request_id')
    )
    op.create_index('ix_usage_month_contract', 'usage_events', ['month', 'contract', 'contratante', 'billable', 'type'], unique=False)
    op.create_table('reconciliations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('contract', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('billing', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('expected_cents', sa.BigInteger(), nullable=True),
    sa.Column('billed_cents', sa.BigInteger(), nullable=True),
    sa.Column('difference_cents', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('check_outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('breakdown', sa.Text(), nullable=False),
    sa.Column('computed_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contract', 'month', name='uq_reconciliation_contract_month')
    )
    op.create_index(op.f('ix_reconciliations_month'), 'reconciliations', ['month'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reconciliations_month'), table_name='reconciliations')
    op.drop_table('reconciliations')
    op.drop_index('ix_usage_month_contract', table_name='usage_events')
    op.drop_table('usage_events')
    op.drop_index(op.f('ix_metric_declarations_vendor'), table_name='metric_declarations')
    op.drop_table('metric_declarations')
