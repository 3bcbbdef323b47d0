"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 04:39:46.800331
"""
from alembic import op
import sqlalchemy as sa
import app.store.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=True),
    sa.Column('session_id', sa.String(length=128), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_session_id'), ['session_id'], unique=False)

    audit_head = op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.bulk_insert(audit_head, [{'id': 1, 'last_hash': '0' * 64, 'events': 0}])
    op.create_table('customers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('verified', sa.Boolean(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('email', name=op.f('uq_customers_email'))
    )
    op.create_table('dedupe_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('message_id', sa.String(length=191), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('reply_to', sa.JSON(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='1', nullable=False),
    sa.Column('response', sa.JSON(), nullable=True),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('updated_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dedupe_messages')),
    sa.UniqueConstraint('channel', 'message_id', name='uq_dedupe_messages_channel_message')
    )
    with op.batch_alter_table('dedupe_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dedupe_messages_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_dedupe_messages_unfinished', ['status', 'updated_at'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_conversation', ['channel', 'session_id', 'id'], unique=False)

    op.create_table('pending_confirmations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('token_id', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('tool_name', sa.String(length=64), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('args_hash', sa.String(length=64), nullable=False),
    sa.Column('preview', sa.Text(), nullable=False),
    sa.Column('short_code', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('expires_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('resolved_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_confirmations')),
    sa.UniqueConstraint('token_id', name=op.f('uq_pending_confirmations_token_id'))
    )
    with op.batch_alter_table('pending_confirmations', schema=None) as batch_op:
        batch_op.create_index('ix_pending_confirmations_session', ['channel', 'session_id', 'short_code'], unique=False)

    op.create_table('sessions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('session_id', sa.String(length=128), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('confirm_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('confirm_locked_until', app.store.tables.UtcDateTime(), nullable=True),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('updated_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    sa.UniqueConstraint('channel', 'session_id', name='uq_sessions_channel_session')
    )
    op.create_table('email_verifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('expires_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('verified_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_email_verifications_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_verifications'))
    )
    with op.batch_alter_table('email_verifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_verifications_email'), ['email'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('email_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_verifications_email'))

    op.drop_table('email_verifications')
    op.drop_table('sessions')
    with op.batch_alter_table('pending_confirmations', schema=None) as batch_op:
        batch_op.drop_index('ix_pending_confirmations_session')

    op.drop_table('pending_confirmations')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_conversation')

    op.drop_table('messages')
    with op.batch_alter_table('dedupe_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_dedupe_messages_unfinished')
        batch_op.drop_index(batch_op.f('ix_dedupe_messages_created_at'))

    op.drop_table('dedupe_messages')
    op.drop_table('customers')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_session_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_request_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_kind'))
        batch_op.drop_index(batch_op.f('ix_audit_events_created_at'))

    op.drop_table('audit_events')
