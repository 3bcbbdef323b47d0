"""The audit trail: events gathered during a turn and appended at its commit points to a
hash chain (each event's hash covers its content and the previous hash)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app import metrics
from app.logs import request_id_var
from app.store.direct import Direct
from app.store.tables import audit_events, audit_head, utcnow

log = logging.getLogger("llm_planner.audit")
MAX_FIELD_CHARS = 80000
GENESIS = "0" * 64


# One encoder, kept: json.dumps with options builds a new one on every call, and a turn
# encodes about a dozen times.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical(data: Any) -> str:
    return _CANONICAL.encode(data)


def _encoded(data: dict[str, Any]) -> str:
    """The event's data, encoded once: what is stored and what is hashed. Giants are cut."""
    text = canonical(data)
    if len(text) > MAX_FIELD_CHARS:
        return canonical({"truncated": True, "text": text[:MAX_FIELD_CHARS]})
    return text


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


def event_hash(prev_hash: str, event) -> str:
    """`event` is a dict being written (data as its encoded text) or a row read back (data
    decoded, so encoded again the same canonical way): both hash the same."""
    get = event.get if isinstance(event, dict) else lambda key: getattr(event, key)
    data = get("data")
    header = canonical([prev_hash, get("request_id"), get("session_id"), get("channel"), get("kind"),
                        _stamp(get("created_at"))])
    body = header + "\n" + (data if isinstance(data, str) else canonical(data))
    return hashlib.sha256(body.encode()).hexdigest()


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
_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` for a transaction that appends to the chain. This process's such
    transactions run one at a time: they queue on the head's row lock in the database
    anyway, and queued here instead, each finds the head where the last one left it, so
    the guess in `append` holds (at 32 concurrent requests it failed for two turns in
    five, each then waiting on the lock, reading the head and hashing its events again).
    The lock is only an optimisation: the database still decides (`append`), across
    workers and machines. It is taken before the transaction begins, so a thread never
    holds a row lock while it waits here."""
    lock = _writers.get(engine)
    if lock is None:
        with _writers_guard:
            lock = _writers.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


def _chain(prev: str, events: list[dict[str, Any]]) -> str:
    for event in events:
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(prev, event)
    return prev


def append(conn: Connection, events: list[dict[str, Any]]) -> None:
    """Chain and insert, holding the head's lock from the read of the previous hash to the
    commit. The head is moved first, conditionally on the hash this process last wrote:
    when no other writer came in between (the usual case) that one statement both takes
    the lock and checks the guess. Otherwise the head is read under the lock and the
    events chained again; the guess is only a hint, the database decides."""
    engine = conn.engine
    guess = _last_written.get(engine)
    if guess is not None:
        new = _chain(guess, events)
        if _HEAD_ADVANCE.run(conn, {"expected": guess, "new_hash": new, "n": len(events)}) == 1:
            _INSERT.run_many(conn, events)
            _last_written[engine] = new
            return
    # MySQL: FOR UPDATE locks the row. SQLite has no FOR UPDATE; there the UPDATE before the
    # read takes the database's write lock (a read first could see a stale snapshot).
    if conn.dialect.name == "sqlite" and guess is None:
        _HEAD_ADVANCE.run(conn, {"expected": "", "new_hash": "", "n": 0})
    prev = conn.execute(_HEAD_FOR_UPDATE).scalar_one()
    new = _chain(prev, events)
    conn.execute(_HEAD_SET, {"new_hash": new, "n": len(events)})
    _INSERT.run_many(conn, events)
    _last_written[engine] = new


class AuditTrail:
    """One request's events. `flush` writes them inside the caller's transaction, so the
    record of a park or a consumption commits together with it; `committed` then counts
    them in the metrics, which so tell what the audit trail holds."""

    def __init__(self, request_id: str | None, channel: str | None, session_id: str | None) -> None:
        self.request_id = request_id
        self.channel = channel
        self.session_id = session_id
        self._pending: list[dict[str, Any]] = []
        self._uncommitted: list[dict[str, Any]] = []  # written in a transaction still open

    def add(self, kind: str, **data: Any) -> None:
        # "fields" is not a column: only the metrics read it.
        self._pending.append({"request_id": self.request_id, "session_id": self.session_id,
                              "channel": self.channel, "kind": kind, "data": _encoded(data),
                              "created_at": utcnow(), "fields": data})

    def snapshot(self) -> list[dict[str, Any]]:
        """The events not yet written, as they are now: `restore` puts them back after a
        transaction that was to write them failed (its writes rolled back with it)."""
        return list(self._pending)

    def restore(self, snapshot: list[dict[str, Any]]) -> None:
        self._pending = list(snapshot)
        self._uncommitted = []

    def committed(self) -> None:
        """The transaction that flushed the events has committed: count them."""
        for event in self._uncommitted:
            metrics.observe(event["kind"], event["fields"], self.channel)
        self._uncommitted = []

    @property
    def kinds(self) -> list[str]:
        return [event["kind"] for event in self._pending]

    def flush(self, conn: Connection) -> None:
        if self._pending:
            append(conn, self._pending)
            self._uncommitted += self._pending
            self._pending = []

    def flush_now(self, engine: Engine) -> None:
        """Best effort, for the error paths: the trail must not turn one failure into two."""
        self._uncommitted = []  # a failed transaction's: never stored, never counted
        try:
            with writing(engine) as conn:
                self.flush(conn)
            self.committed()
        except Exception:
            log.exception("could not write %d audit event(s)", len(self._pending))


def record(engine: Engine, kind: str, *, request_id: str | None = None, channel: str | None = None,
           session_id: str | None = None, **data: Any) -> None:
    """One event on its own; outside a turn it carries the HTTP request's id."""
    trail = AuditTrail(request_id or request_id_var.get(), channel, session_id)
    trail.add(kind, **data)
    trail.flush_now(engine)


def verify(engine: Engine, batch: int = 2000) -> tuple[int, dict | None]:
    """(events checked, the first broken link or None)."""
    prev, last_id, checked = GENESIS, 0, 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(sa.select(audit_events).where(audit_events.c.id > last_id)
                                .order_by(audit_events.c.id).limit(batch)).all()
            for row in rows:
                if row.prev_hash != prev:
                    return checked, {"id": row.id, "problem": "does not follow the event before it "
                                     "(an event was removed, inserted or reordered)"}
                if event_hash(prev, row) != row.hash:
                    return checked, {"id": row.id, "problem": "its content does not match its hash (edited)"}
                prev, last_id, checked = row.hash, row.id, checked + 1
            if len(rows) < batch:
                break
        head = conn.execute(sa.select(audit_head)).one()
    if head.last_hash != prev or head.events != checked:
        return checked, {"id": None, "problem": f"the newest events are missing: the head records "
                         f"{head.events} events, {checked} are there"}
    return checked, None


def query(engine: Engine, *, session_id: str | None = None, request_id: str | None = None,
          kind: str | None = None, since: datetime | None = None, limit: int = 100,
          cursor: int | None = None) -> tuple[list[dict], int | None]:
    """Newest first; pass the returned cursor back for the next page."""
    t = audit_events
    conditions = [c for c in (
        t.c.session_id == session_id if session_id else None,
        t.c.request_id == request_id if request_id else None,
        t.c.kind == kind if kind else None,
        t.c.created_at >= since if since else None,
        t.c.id < cursor if cursor else None) if c is not None]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(*conditions).order_by(t.c.id.desc()).limit(limit)).all()
    events = [{"id": r.id, "request_id": r.request_id, "session_id": r.session_id, "channel": r.channel,
               "kind": r.kind, "data": r.data, "created_at": r.created_at.isoformat(), "hash": r.hash}
              for r in rows]
    return events, (rows[-1].id if len(rows) == limit else None)
