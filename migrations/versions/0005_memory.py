"""memory: the memories people asked to keep, with a full-text index (FULLTEXT on
MySQL/MariaDB, an FTS5 table kept by triggers on SQLite)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:40:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
import app.store.tables


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _exact() -> str:
    """Byte for byte, trailing spaces included: "Ana", "ana " and "ana" are three people."""
    bind = op.get_bind()
    return "utf8mb4_nopad_bin" if getattr(bind.dialect, "is_mariadb", False) else "utf8mb4_0900_bin"


def upgrade() -> None:
    op.create_table('memories',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('realm', sa.String(length=8), nullable=False),
    sa.Column('who', sa.String(length=128).with_variant(mysql.VARCHAR(128, collation=_exact()), 'mysql'),
              nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', app.store.tables.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memories')),
    mysql_engine='InnoDB',
    )
    with op.batch_alter_table('memories', schema=None) as batch_op:
        batch_op.create_index('ix_memories_person', ['realm', 'who', 'id'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        # An external-content FTS5 table: the text lives once, in memories; the triggers keep
        # the index in step, so a deleted memory is gone from search too.
        op.execute("CREATE VIRTUAL TABLE memories_fts USING fts5(text, content='memories', "
                   "content_rowid='id', tokenize='unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN "
                   "INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END")
        op.execute("CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN "
                   "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); END")
        op.execute("CREATE TRIGGER memories_fts_update AFTER UPDATE ON memories BEGIN "
                   "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); "
                   "INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END")
    else:
        op.create_index('ix_memories_text', 'memories', ['text'], unique=False, mysql_prefix='FULLTEXT')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for trigger in ('memories_fts_insert', 'memories_fts_delete', 'memories_fts_update'):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS memories_fts")
    op.drop_table('memories')
