"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('mailbox', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('folder', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('uid', sa.BigInteger(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('message_id', sa.Text(), nullable=True),
    sa.Column('from_address', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('sent_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('received_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mailbox', 'folder', 'uidvalidity', 'uid', name='uq_message_imap')
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_sha256'), ['sha256'], unique=True)
        batch_op.create_index(batch_op.f('ix_messages_status'), ['status'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('filename', sa.Text(), nullable=True),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id', 'sha256', name='uq_document_message_sha')
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_sha256'), ['sha256'], unique=False)

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('contract_number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('reference_month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('nfse_layout', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('nfse_number', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('verification_code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('access_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('issued_at', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('competence', sa.Date(), nullable=True),
    sa.Column('provider_cnpj', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=True),
    sa.Column('provider_name', sa.Text(), nullable=True),
    sa.Column('provider_municipal_registration', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('taker_cnpj', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=True),
    sa.Column('services_cents', sa.Integer(), nullable=True),
    sa.Column('deductions_cents', sa.Integer(), nullable=True),
    sa.Column('iss_cents', sa.Integer(), nullable=True),
    sa.Column('iss_withheld', sa.Boolean(), nullable=True),
    sa.Column('retentions_cents', sa.Integer(), nullable=True),
    sa.Column('net_cents', sa.Integer(), nullable=True),
    sa.Column('service_item', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('municipality_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('verdict', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('paid_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id'),
    sa.UniqueConstraint('provider_cnpj', 'nfse_number', name='uq_invoice_nfse')
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_contract_number'), ['contract_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_reference_month'), ['reference_month'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_vendor'), ['vendor'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_verdict'), ['verdict'], unique=False)

    op.create_table('boletos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('digitable_line', sqlmodel.sql.sqltypes.AutoString(length=47), nullable=True),
    sa.Column('barcode', sqlmodel.sql.sqltypes.AutoString(length=44), nullable=False),
    sa.Column('bank_code', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('barcode_read', sa.Boolean(), nullable=False),
    sa.Column('pix_payload', sa.Text(), nullable=True),
    sa.Column('pix_crc_valid', sa.Boolean(), nullable=True),
    sa.Column('pix_merchant_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('pix_merchant_city', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('pix_amount_cents', sa.Integer(), nullable=True),
    sa.Column('pix_key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('pix_url', sa.Text(), nullable=True),
    sa.Column('pix_txid', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id')
    )
    with op.batch_alter_table('boletos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_boletos_bank_code'), ['bank_code'], unique=False)

    op.create_table('checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('checked_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invoice_id', 'name', name='uq_check_invoice_name')
    )
    with op.batch_alter_table('checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checks_invoice_id'), ['invoice_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checks_invoice_id'))

    op.drop_table('checks')
    with op.batch_alter_table('boletos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_boletos_bank_code'))

    op.drop_table('boletos')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_verdict'))
        batch_op.drop_index(batch_op.f('ix_invoices_vendor'))
        batch_op.drop_index(batch_op.f('ix_invoices_reference_month'))
        batch_op.drop_index(batch_op.f('ix_invoices_contract_number'))

    op.drop_table('invoices')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_sha256'))
        batch_op.drop_index(batch_op.f('ix_documents_message_id'))

    op.drop_table('documents')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_status'))
        batch_op.drop_index(batch_op.f('ix_messages_sha256'))

    op.drop_table('messages')
