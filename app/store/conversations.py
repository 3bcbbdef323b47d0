"""Sessions (their facts) and the message history: a few plain statements."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.store.tables import messages, sessions, utcnow


def load_facts(conn: Connection, channel: str, session_id: str) -> dict:
    row = conn.execute(sa.select(sessions.c.facts).where(
        sessions.c.channel == channel, sessions.c.session_id == session_id)).one_or_none()
    return dict(row.facts) if row else {}


def load_history(conn: Connection, channel: str, session_id: str, turns: int) -> list[tuple[str, str]]:
    if turns <= 0:
        return []
    rows = conn.execute(
        sa.select(messages.c.role, messages.c.content)
        .where(messages.c.channel == channel, messages.c.session_id == session_id)
        .order_by(messages.c.id.desc()).limit(turns * 2)).all()
    return [(row.role, row.content) for row in reversed(rows)]


def save_turn(conn: Connection, *, channel: str, session_id: str, request_id: str,
              user_text: str, assistant_text: str, facts: dict | None) -> None:
    """Append both sides of the turn and touch the session (its facts when they changed)."""
    now = utcnow()
    conn.execute(sa.insert(messages), [
        {"channel": channel, "session_id": session_id, "request_id": request_id,
         "role": "user", "content": user_text, "created_at": now},
        {"channel": channel, "session_id": session_id, "request_id": request_id,
         "role": "assistant", "content": assistant_text, "created_at": now},
    ])
    values = {"updated_at": now} if facts is None else {"updated_at": now, "facts": facts}
    where = (sessions.c.channel == channel, sessions.c.session_id == session_id)
    if conn.execute(sa.update(sessions).where(*where).values(**values)).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(sessions).values(channel=channel, session_id=session_id,
                                                    facts=facts or {}, created_at=now, updated_at=now))
    except sa.exc.IntegrityError:  # created by a concurrent turn of the same session
        conn.execute(sa.update(sessions).where(*where).values(**values))
