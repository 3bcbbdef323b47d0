"""policy: the grants and revocations of `llm-planner policy`; the key a task was created with

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
import app.store.tables


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('tool', sa.String(length=64), nullable=False),
    sa.Column('changed_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_changes'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_name', sa.String(length=64), nullable=True))
    # Who asked for a parked call: an operator's later approval checks it under that key's
    # and that agent's rules as they stand then.
    with op.batch_alter_table('pending_confirmations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('agent', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pending_confirmations', schema=None) as batch_op:
        batch_op.drop_column('agent')
        batch_op.drop_column('api_key_name')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('api_key_name')
    op.drop_table('policy_changes')
