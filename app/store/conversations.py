"""Sessions (their facts) and the message history: a few plain statements."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.store.tables import messages, sessions, utcnow

# Built once: a reused statement keeps its cache key and compiled form (this is the hot path).
_SESSION = (sessions.c.channel == sa.bindparam("ch"), sessions.c.session_id == sa.bindparam("sid"))
# One statement for both: the session's facts (part 0, raw JSON text) and its newest messages.
_RECENT = (sa.select(messages.c.id, messages.c.role, messages.c.content)
           .where(messages.c.channel == sa.bindparam("ch"), messages.c.session_id == sa.bindparam("sid"))
           .order_by(messages.c.id.desc()).limit(sa.bindparam("n", type_=sa.Integer)).subquery())
_CONTEXT = sa.union_all(
    sa.select(sa.literal_column("0").label("part"), sa.literal_column("0").label("id"),
              sa.type_coerce(sessions.c.facts, sa.Text).label("a"), sa.null().label("b")).where(*_SESSION),
    sa.select(sa.literal_column("1"), _RECENT.c.id, _RECENT.c.role, _RECENT.c.content),
)
_ADD_MESSAGES = sa.insert(messages)
_TOUCH = sa.update(sessions).where(*_SESSION).values(updated_at=sa.bindparam("now"))
_SET_FACTS = sa.update(sessions).where(*_SESSION).values(updated_at=sa.bindparam("now"),
                                                          facts=sa.bindparam("new_facts", type_=sa.JSON))


def load_context(conn: Connection, channel: str, session_id: str,
                 turns: int) -> tuple[dict | None, list[tuple[str, str]]]:
    """(the session's facts or None when it does not exist yet, its last `turns` exchanges
    oldest first)."""
    facts, history = None, []
    for row in sorted(conn.execute(_CONTEXT, {"ch": channel, "sid": session_id, "n": max(turns, 0) * 2}).all(),
                      key=lambda r: (r.part, r.id)):
        if row.part == 0:
            facts = json.loads(row.a)
        else:
            history.append((row.a, row.b))
    return facts, history


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
