"""The audit tables' statements: appending to the chain, reading it back, moving its oldest
events out to an archive behind a checkpoint."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.store.direct import Direct
from app.store.tables import audit_checkpoints, audit_events, audit_head

_HEAD = audit_head.c
_HEAD_FOR_UPDATE = sa.select(_HEAD.last_hash).where(_HEAD.id == 1).with_for_update()
_N = sa.bindparam("n", type_=sa.Integer)
_HEAD_ADVANCE = Direct(sa.update(audit_head)
                       .where(_HEAD.id == 1, _HEAD.last_hash == sa.bindparam("expected"))
                       .values(last_hash=sa.bindparam("new_hash"), events=_HEAD.events + _N))
_HEAD_SET = sa.update(audit_head).where(_HEAD.id == 1).values(last_hash=sa.bindparam("new_hash"),
                                                             events=_HEAD.events + _N)
_INSERT = Direct(sa.insert(audit_events), keys=("request_id", "session_id", "channel", "kind", "data",
                                                 "created_at", "prev_hash", "hash"))
# The head this process last wrote, per engine: a guess that saves reading the head first.
_last_written: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def append(conn: Connection, events: list[dict[str, Any]], chain: Callable[[str, list], str]) -> None:
    """Chain (`chain(prev_hash, events)` sets each event's hashes and returns the last) and
    insert, holding the head's lock from the read of the previous hash to the commit. The
    head is moved first, conditionally on the hash this process last wrote: when no other
    writer came in between (the usual case) that one statement both takes the lock and
    checks the guess. Otherwise the head is read under the lock and the events chained
    again; the guess is only a hint, the database decides."""
    engine = conn.engine
    guess = _last_written.get(engine)
    if guess is not None:
        new = chain(guess, events)
        if _HEAD_ADVANCE.run(conn, {"expected": guess, "new_hash": new, "n": len(events)}) == 1:
            _INSERT.run_many(conn, events)
            _last_written[engine] = new
            return
    # MySQL: FOR UPDATE locks the row. SQLite has no FOR UPDATE; there the UPDATE before the
    # read takes the database's write lock (a read first could see a stale snapshot).
    if conn.dialect.name == "sqlite" and guess is None:
        _HEAD_ADVANCE.run(conn, {"expected": "", "new_hash": "", "n": 0})
    prev = conn.execute(_HEAD_FOR_UPDATE).scalar_one()
    new = chain(prev, events)
    conn.execute(_HEAD_SET, {"new_hash": new, "n": len(events)})
    _INSERT.run_many(conn, events)
    _last_written[engine] = new


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction: the events, the checkpoint and the head as of one moment, while
    turns go on appending and an archive goes on removing. (pysqlite begins no transaction
    for a SELECT, so on SQLite it is begun here; InnoDB's repeatable read does the rest.)"""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        yield conn


def in_order(conn: Connection, after: int = 0, batch: int = 2000) -> Iterator[Any]:
    """Every event after the id `after`, oldest first, read in batches."""
    while True:
        rows = events_after(conn, after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def events_after(conn: Connection, after: int, limit: int) -> list[Any]:
    return conn.execute(sa.select(audit_events).where(audit_events.c.id > after)
                        .order_by(audit_events.c.id).limit(limit)).all()


def newest_id(conn: Connection) -> int | None:
    return conn.execute(sa.select(sa.func.max(audit_events.c.id))).scalar()


def first_id(conn: Connection) -> int | None:
    return conn.execute(sa.select(sa.func.min(audit_events.c.id))).scalar()


def head(conn: Connection) -> Any:
    return conn.execute(sa.select(audit_head)).one()


def lock_head(conn: Connection) -> None:
    """Hold the head's row lock (on SQLite, the database's write lock) until the commit:
    no event is appended meanwhile."""
    conn.execute(sa.update(audit_head).where(_HEAD.id == 1).values(events=_HEAD.events))


def latest_checkpoint(conn: Connection) -> Any:
    t = audit_checkpoints
    return conn.execute(sa.select(t).order_by(t.c.last_event_id.desc()).limit(1)).first()


def remove_events(conn: Connection, after: int, through: int) -> int:
    t = audit_events
    return conn.execute(sa.delete(t).where(t.c.id > after, t.c.id <= through)).rowcount


def add_checkpoint(conn: Connection, **values: Any) -> int:
    return conn.execute(sa.insert(audit_checkpoints).values(**values)).inserted_primary_key[0]


def extend_checkpoint(conn: Connection, checkpoint_id: int, added: int, **values: Any) -> None:
    t = audit_checkpoints
    conn.execute(sa.update(t).where(t.c.id == checkpoint_id).values(events=t.c.events + added, **values))


def newest(engine: Engine, *, session_id: str | None, request_id: str | None, kind: str | None,
           since: datetime | None, limit: int, cursor: int | None) -> list[Any]:
    t = audit_events
    conditions = [c for c in (
        t.c.session_id == session_id if session_id else None,
        t.c.request_id == request_id if request_id else None,
        t.c.kind == kind if kind else None,
        t.c.created_at >= since if since else None,
        t.c.id < cursor if cursor else None) if c is not None]
    with engine.connect() as conn:
        return conn.execute(sa.select(t).where(*conditions).order_by(t.c.id.desc()).limit(limit)).all()
