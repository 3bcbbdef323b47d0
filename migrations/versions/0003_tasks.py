"""tasks: the queue (tasks with their leases), updates, the step journal, answered calls, workspaces

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:27:59.971170
"""
from alembic import op
import sqlalchemy as sa
import app.store.tables


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_workspaces',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('workspace_path', sa.String(length=512), nullable=False),
    sa.Column('venv_path', sa.String(length=512), nullable=True),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('last_accessed', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_workspaces')),
    sa.UniqueConstraint('workspace_path', name=op.f('uq_agent_workspaces_workspace_path'))
    )
    with op.batch_alter_table('agent_workspaces', schema=None) as batch_op:
        batch_op.create_index('ix_agent_workspaces_agent', ['agent', 'task_id'], unique=False)

    op.create_table('task_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('token_id', sa.String(length=64), nullable=False),
    sa.Column('tool_name', sa.String(length=64), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('output', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('updated_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_calls')),
    sa.UniqueConstraint('token_id', name=op.f('uq_task_calls_token_id'))
    )
    with op.batch_alter_table('task_calls', schema=None) as batch_op:
        batch_op.create_index('ix_task_calls_task', ['task_id', 'status'], unique=False)

    op.create_table('task_steps',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_steps')),
    sa.UniqueConstraint('task_id', 'step', name='uq_task_steps_task_step')
    )
    op.create_table('task_updates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('update_type', sa.String(length=32), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_updates'))
    )
    with op.batch_alter_table('task_updates', schema=None) as batch_op:
        batch_op.create_index('ix_task_updates_task', ['task_id', 'id'], unique=False)

    op.create_table('tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('complexity', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('stage_progress', sa.Integer(), server_default='0', nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('workspace', sa.String(length=512), nullable=True),
    sa.Column('waiting_for', sa.String(length=255), nullable=True),
    sa.Column('steps', sa.Integer(), server_default='0', nullable=False),
    sa.Column('tokens', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('running_ms', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('budget_steps_from', sa.Integer(), server_default='0', nullable=False),
    sa.Column('budget_ms_from', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('notify_email', sa.String(length=254), nullable=True),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_expires_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('updated_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('completed_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_agent', ['agent', 'status'], unique=False)
        batch_op.create_index('ix_tasks_queue', ['status', 'priority', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_queue')
        batch_op.drop_index('ix_tasks_agent')

    op.drop_table('tasks')
    with op.batch_alter_table('task_updates', schema=None) as batch_op:
        batch_op.drop_index('ix_task_updates_task')

    op.drop_table('task_updates')
    op.drop_table('task_steps')
    with op.batch_alter_table('task_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_task_calls_task')

    op.drop_table('task_calls')
    with op.batch_alter_table('agent_workspaces', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_workspaces_agent')

    op.drop_table('agent_workspaces')
