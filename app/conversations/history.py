"""The conversation repository: sessions (their facts) and the message history."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from app.store.direct import Direct
from app.store.tables import messages, sessions, utcnow

# Built once: a reused statement keeps its cache key and compiled form. The two on every
# turn's path run on the driver's cursor (app/store/direct.py).
_SESSION = (sessions.c.channel == sa.bindparam("ch"), sessions.c.session_id == sa.bindparam("sid"))
_FACTS = sa.select(sa.type_coerce(sessions.c.facts, sa.Text)).where(*_SESSION)
# One statement for both: the newest messages, each row carrying the session's facts (raw
# JSON text). A session row is only ever created together with its first messages, so a
# session without messages has no facts yet. Measured on MariaDB: a UNION with a derived
# table costs the server more than the two statements it replaces; this does not.
# Only as much of each message as the prompt shows: a reply can carry a tool's whole output.
_CONTEXT = Direct(
    sa.select(messages.c.role,
              sa.func.substr(messages.c.content, 1, sa.bindparam("chars", type_=sa.Integer)).label("content"),
              _FACTS.scalar_subquery().label("facts"))
    .where(messages.c.channel == sa.bindparam("ch"), messages.c.session_id == sa.bindparam("sid"))
    .order_by(messages.c.id.desc()).limit(sa.bindparam("n", type_=sa.Integer)))
_ADD_MESSAGES = Direct(sa.insert(messages),
                       keys=("channel", "session_id", "request_id", "role", "content", "created_at"))
_SET_FACTS = sa.update(sessions).where(*_SESSION).values(updated_at=sa.bindparam("now"),
                                                          facts=sa.bindparam("new_facts", type_=sa.JSON))


def _upserts(insert, on_conflict) -> dict[bool, sa.Insert]:
    """Create the session or, when a concurrent turn just did, touch it (and set its facts):
    one statement. An UPDATE that finds no row first would lock the gap where the row
    belongs, and two first turns of one session then deadlock on their INSERTs."""
    now = sa.bindparam("now")
    new = insert(sessions).values(channel=sa.bindparam("ch"), session_id=sa.bindparam("sid"),
                                  facts=sa.bindparam("new_facts", type_=sa.JSON), created_at=now, updated_at=now)
    return {with_facts: on_conflict(new, with_facts) for with_facts in (False, True)}


def _mysql(new, with_facts: bool):
    return new.on_duplicate_key_update(updated_at=new.inserted.updated_at,
                                       **({"facts": new.inserted.facts} if with_facts else {}))


def _sqlite(new, with_facts: bool):
    return new.on_conflict_do_update(
        index_elements=[sessions.c.channel, sessions.c.session_id],
        set_={"updated_at": new.excluded.updated_at, **({"facts": new.excluded.facts} if with_facts else {})})


_UPSERT = {"mysql": _upserts(mysql_insert, _mysql), "mariadb": _upserts(mysql_insert, _mysql),
           "sqlite": _upserts(sqlite_insert, _sqlite)}


def load_context(conn: Connection, channel: str, session_id: str, turns: int,
                 chars: int = 10**9) -> tuple[dict | None, list[tuple[str, str]]]:
    """(the session's facts or None when it does not exist yet, its last `turns` exchanges
    oldest first, each message cut to `chars`)."""
    params = {"ch": channel, "sid": session_id, "n": turns * 2, "chars": chars}
    if turns <= 0:
        facts = conn.execute(_FACTS, params).scalar_one_or_none()
        return (json.loads(facts) if facts is not None else None), []
    rows = _CONTEXT.rows(conn, params)
    if not rows:
        return None, []
    facts = rows[0][2]  # None only if someone deleted the session row by hand
    return (json.loads(facts) if facts is not None else None), [(role, content) for role, content, _ in reversed(rows)]


def save_turn(conn: Connection, *, channel: str, session_id: str, request_id: str,
              user_text: str, assistant_text: str, facts: dict | None, known: bool = False) -> None:
    """Append both sides of the turn; create the session, or store its facts when they
    changed. `known`: the session row is known to exist and nothing about it changed."""
    now = utcnow()
    _ADD_MESSAGES.run_many(conn, [
        {"channel": channel, "session_id": session_id, "request_id": request_id,
         "role": "user", "content": user_text, "created_at": now},
        {"channel": channel, "session_id": session_id, "request_id": request_id,
         "role": "assistant", "content": assistant_text, "created_at": now},
    ])
    if known and facts is None:
        return
    params = {"ch": channel, "sid": session_id, "now": now, "new_facts": facts if facts is not None else {}}
    # A session known to exist is updated in place (its row is locked, not a gap); a
    # new one, or one removed by hand meanwhile, is created or touched by the upsert.
    if known and conn.execute(_SET_FACTS, params).rowcount:
        return
    conn.execute(_UPSERT[conn.dialect.name][facts is not None], params)
