"""Sessions (their facts) and the message history: a few plain statements."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.store.tables import messages, sessions, utcnow

# Built once: a reused statement keeps its cache key and compiled form (this is the hot path).
_SESSION = (sessions.c.channel == sa.bindparam("ch"), sessions.c.session_id == sa.bindparam("sid"))
_FACTS = sa.select(sessions.c.facts).where(*_SESSION)
_HISTORY = (sa.select(messages.c.role, messages.c.content)
            .where(messages.c.channel == sa.bindparam("ch"), messages.c.session_id == sa.bindparam("sid"))
            .order_by(messages.c.id.desc()).limit(sa.bindparam("n", type_=sa.Integer)))
_ADD_MESSAGES = sa.insert(messages)
_TOUCH = sa.update(sessions).where(*_SESSION).values(updated_at=sa.bindparam("now"))
_SET_FACTS = sa.update(sessions).where(*_SESSION).values(updated_at=sa.bindparam("now"),
                                                          facts=sa.bindparam("new_facts", type_=sa.JSON))


def load_facts(conn: Connection, channel: str, session_id: str) -> dict | None:
    """The session's facts; None when the session does not exist yet."""
    row = conn.execute(_FACTS, {"ch": channel, "sid": session_id}).one_or_none()
    return dict(row.facts) if row else None


def load_history(conn: Connection, channel: str, session_id: str, turns: int) -> list[tuple[str, str]]:
    if turns <= 0:
        return []
    rows = conn.execute(_HISTORY, {"ch": channel, "sid": session_id, "n": turns * 2}).all()
    return [(row.role, row.content) for row in reversed(rows)]


def save_turn(conn: Connection, *, channel: str, session_id: str, request_id: str,
              user_text: str, assistant_text: str, facts: dict | None, known: bool = False) -> None:
    """Append both sides of the turn; create the session, or store its facts when they
    changed. `known`: the session row is known to exist and nothing about it changed."""
    now = utcnow()
    conn.execute(_ADD_MESSAGES, [
        {"channel": channel, "session_id": session_id, "request_id": request_id,
         "role": "user", "content": user_text, "created_at": now},
        {"channel": channel, "session_id": session_id, "request_id": request_id,
         "role": "assistant", "content": assistant_text, "created_at": now},
    ])
    if known and facts is None:
        return
    statement = _TOUCH if facts is None else _SET_FACTS
    params = {"ch": channel, "sid": session_id, "now": now, "new_facts": facts}
    if conn.execute(statement, params).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(sessions).values(channel=channel, session_id=session_id,
                                                    facts=facts or {}, created_at=now, updated_at=now))
    except sa.exc.IntegrityError:  # created by a concurrent turn of the same session
        conn.execute(statement, params)
