"""agents: profiles as the database knows them, their launched services; a task's requested agent

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:30:00
"""
from alembic import op
import sqlalchemy as sa
import app.store.tables


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=True),
    sa.Column('endpoint', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('min_complexity', sa.Integer(), nullable=False),
    sa.Column('max_complexity', sa.Integer(), nullable=False),
    sa.Column('max_tasks', sa.Integer(), nullable=True),
    sa.Column('workspace_path', sa.String(length=512), nullable=True),
    sa.Column('declared', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('last_active', app.store.tables.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('name', name=op.f('uq_agents_name'))
    )
    op.create_table('agent_services',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('url', sa.String(length=255), nullable=True),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('restarts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.Column('stopped_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.Column('updated_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_services')),
    sa.UniqueConstraint('name', name=op.f('uq_agent_services_name'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_agent', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_column('requested_agent')
    op.drop_table('agent_services')
    op.drop_table('agents')
