"""The audit trail: events gathered during a turn and written at its commit points."""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.store.tables import audit_events, utcnow

log = logging.getLogger("llm_planner.audit")
MAX_FIELD_CHARS = 20000


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # Round-trip so the row holds plain JSON whatever a tool returned, and cut giants.
    text = json.dumps(data, default=str, ensure_ascii=False)
    if len(text) > MAX_FIELD_CHARS * 4:
        return {"truncated": True, "text": text[: MAX_FIELD_CHARS * 4]}
    return json.loads(text)


class AuditTrail:
    """One request's events. `flush` writes them inside the caller's transaction, so the
    record of a park or a consumption commits together with it."""

    def __init__(self, request_id: str | None, channel: str | None, session_id: str | None) -> None:
        self.request_id = request_id
        self.channel = channel
        self.session_id = session_id
        self._pending: list[dict[str, Any]] = []

    def add(self, kind: str, **data: Any) -> None:
        self._pending.append({
            "request_id": self.request_id, "session_id": self.session_id,
            "channel": self.channel, "kind": kind, "data": _jsonable(data),
            "created_at": utcnow(),
        })

    def flush(self, conn: Connection) -> None:
        if self._pending:
            conn.execute(sa.insert(audit_events), self._pending)
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
