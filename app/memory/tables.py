"""The memories table. Its full-text index is the migration's (FULLTEXT on MySQL/MariaDB, an
FTS5 table kept by triggers on SQLite): neither is something MetaData can say."""

from __future__ import annotations

import sqlalchemy as sa

from app.store.tables import BigId, UtcDateTime, metadata

memories = sa.Table(
    "memories",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("realm", sa.String(8), nullable=False),  # a people.Realm: whose ids `who` is among
    # The sender id, or the session id. On MySQL/MariaDB the migration gives it a binary,
    # no-pad collation: the default one would make "Ana", "ana " and "ana" one person.
    sa.Column("who", sa.String(128), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),  # where it was said
    sa.Column("text", sa.Text, nullable=False),  # masked before it was stored
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_memories_person", "realm", "who", "id"),
)
