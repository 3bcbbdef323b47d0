"""Conversation history does not grow for ever: `llm-planner purge` removes old messages."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.store.tables import messages, utcnow

BATCH = 5000


def purge_messages(engine: Engine, older_than_days: int) -> int:
    """Delete the messages older than that many days, in short transactions (turns keep
    writing meanwhile); how many were removed."""
    before = utcnow() - timedelta(days=older_than_days)
    removed = 0
    while True:
        with engine.begin() as conn:
            ids = conn.execute(sa.select(messages.c.id).where(messages.c.created_at < before)
                               .order_by(messages.c.id).limit(BATCH)).scalars().all()
            if ids:
                removed += conn.execute(sa.delete(messages).where(messages.c.id.in_(ids))).rowcount
        if len(ids) < BATCH:
            return removed
