"""mcp: the pins of trusted MCP servers' tools

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa
import app.store.tables


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mcp_pins',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('server', sa.String(length=64), nullable=False),
    sa.Column('tool', sa.String(length=128), nullable=False),
    sa.Column('definition_hash', sa.String(length=64), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('trusted_by', sa.String(length=128), nullable=False),
    sa.Column('trusted_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.Column('changed_hash', sa.String(length=64), nullable=True),
    sa.Column('changed_at', app.store.tables.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mcp_pins')),
    sa.UniqueConstraint('server', 'tool', name='uq_mcp_pins_server_tool')
    )


def downgrade() -> None:
    op.drop_table('mcp_pins')
