"""The audit trail: events gathered during a turn and appended at its commit points to a
hash chain (each event's hash covers its content and the previous hash)."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app import metrics
from app.store.tables import audit_events, audit_head, utcnow

log = logging.getLogger("llm_planner.audit")
MAX_FIELD_CHARS = 80000
GENESIS = "0" * 64


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # Round-trip so the row holds plain JSON whatever a tool returned, and cut giants.
    text = json.dumps(data, default=str, ensure_ascii=False)
    if len(text) > MAX_FIELD_CHARS:
        return {"truncated": True, "text": text[:MAX_FIELD_CHARS]}
    return json.loads(text)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def event_hash(prev_hash: str, event) -> str:
    """`event` is a dict being written or a row read back: both hash the same."""
    get = event.get if isinstance(event, dict) else lambda key: getattr(event, key)
    canonical = json.dumps([prev_hash, get("request_id"), get("session_id"), get("channel"), get("kind"),
                            get("data"), _stamp(get("created_at"))],
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(conn: Connection, events: list[dict[str, Any]]) -> None:
    """Chain and insert. The UPDATE comes first: it takes the head's lock (a row lock on
    MySQL, the write lock on SQLite) before the previous hash is read."""
    conn.execute(sa.update(audit_head).where(audit_head.c.id == 1)
                 .values(events=audit_head.c.events + len(events)))
    prev = conn.execute(sa.select(audit_head.c.last_hash).where(audit_head.c.id == 1)).scalar_one()
    for event in events:
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(prev, event)
    conn.execute(sa.insert(audit_events), events)
    conn.execute(sa.update(audit_head).where(audit_head.c.id == 1).values(last_hash=prev))


class AuditTrail:
    """One request's events. `flush` writes them inside the caller's transaction, so the
    record of a park or a consumption commits together with it."""

    def __init__(self, request_id: str | None, channel: str | None, session_id: str | None) -> None:
        self.request_id = request_id
        self.channel = channel
        self.session_id = session_id
        self._pending: list[dict[str, Any]] = []

    def add(self, kind: str, **data: Any) -> None:
        event = {"request_id": self.request_id, "session_id": self.session_id,
                 "channel": self.channel, "kind": kind, "data": _jsonable(data), "created_at": utcnow()}
        self._pending.append(event)
        metrics.observe(kind, event["data"], self.channel)

    @property
    def kinds(self) -> list[str]:
        return [event["kind"] for event in self._pending]

    def flush(self, conn: Connection) -> None:
        if self._pending:
            append(conn, self._pending)
            self._pending = []

    def flush_now(self, engine: Engine) -> None:
        """Best effort, for the error paths: the trail must not turn one failure into two."""
        try:
            with engine.begin() as conn:
                self.flush(conn)
        except Exception:
            log.exception("could not write %d audit event(s)", len(self._pending))


def record(engine: Engine, kind: str, *, request_id: str | None = None, channel: str | None = None,
           session_id: str | None = None, **data: Any) -> None:
    trail = AuditTrail(request_id, channel, session_id)
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
