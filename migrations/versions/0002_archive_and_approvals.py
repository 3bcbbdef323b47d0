"""audit checkpoints, the approver of a confirmation, messages by age

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:40:00
"""
from alembic import op
import sqlalchemy as sa
import app.store.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_checkpoints',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('first_event_id', sa.BigInteger(), nullable=False),
    sa.Column('last_event_id', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.Column('chain_events', sa.BigInteger(), nullable=False),
    sa.Column('before', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('archived_to', sa.String(length=1024), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
    sa.UniqueConstraint('last_event_id', name=op.f('uq_audit_checkpoints_last_event_id'))
    )
    with op.batch_alter_table('pending_confirmations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=128), nullable=True))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_created_at')
    with op.batch_alter_table('pending_confirmations', schema=None) as batch_op:
        batch_op.drop_column('resolved_by')
    op.drop_table('audit_checkpoints')
