"""exact ids: on MySQL/MariaDB, session ids and delivery ids compare byte for byte

The server's default collation is case- and (on MariaDB) trailing-space-insensitive, so
web session "Ana" continued "ana"'s conversation, and a delivery whose provider id differed
from an earlier one only by case was dropped as its duplicate. A binary, no-pad collation
only tells more values apart: every existing row and unique key stays valid. SQLite
compares bytes already.

Each ALTER rebuilds its table: on a large audit_events or messages table, run it in a quiet
hour. Downgrading needs rows that differ only by case or trailing spaces merged first (a
unique key would refuse them under the old collation), and leaves memories.who exact.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# (table, column, length, nullable)
COLUMNS = [
    ("sessions", "session_id", 128, False),
    ("messages", "session_id", 128, False),
    ("pending_confirmations", "session_id", 128, False),
    ("dedupe_messages", "session_id", 128, False),
    ("dedupe_messages", "message_id", 191, False),
    ("audit_events", "session_id", 128, True),
    # 0005 set it only where the URL said mysql://; a mariadb:// one got the default
    ("memories", "who", 128, False),
]


def _alter(collation: str | None) -> None:
    for table, column, length, nullable in COLUMNS:
        if collation is None and table == "memories":
            continue  # 0005's own: it stays exact
        op.alter_column(table, column, existing_type=sa.String(length), existing_nullable=nullable,
                        type_=mysql.VARCHAR(length, collation=collation) if collation else sa.String(length))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name not in ("mysql", "mariadb"):
        return
    _alter("utf8mb4_nopad_bin" if getattr(bind.dialect, "is_mariadb", False) else "utf8mb4_0900_bin")


def downgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    _alter(None)  # the table's default collation again
