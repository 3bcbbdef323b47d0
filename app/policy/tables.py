"""The grants and revocations of `llm-planner policy`, in the order they were made: every
node replays them over the file's rules, so the last one made wins."""

from __future__ import annotations

import sqlalchemy as sa

from app.store.tables import BigId, UtcDateTime, metadata

policy_changes = sa.Table(
    "policy_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("action", sa.String(16), nullable=False),  # grant | revoke
    sa.Column("subject", sa.String(16), nullable=False),  # channels | keys | agents | sessions
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("tool", sa.String(64), nullable=False),
    sa.Column("changed_by", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
