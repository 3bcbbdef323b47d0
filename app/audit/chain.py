"""The audit trail: events gathered during a turn and appended at its commit points to a
hash chain (each event's hash covers its content and the previous hash)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Connection, Engine

from app.audit import repository
from app.audit.kinds import AuditKind
from app.masking import mask_secrets
from app.observability import metrics
from app.observability.logs import request_id_var
from app.store.tables import utcnow
from app.store.transactions import writing

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


def _chain(prev: str, events: list[dict[str, Any]]) -> str:
    for event in events:
        event["prev_hash"] = prev
        event["hash"] = prev = event_hash(prev, event)
    return prev


class AuditTrail:
    """One request's events. `flush` writes them inside the caller's transaction, so the
    record of a park or a consumption commits together with it; `committed` then counts
    them in the metrics, which so tell what the audit trail holds. Secret values the turn
    met (`hide`) are masked out of every event before it is written."""

    def __init__(self, request_id: str | None, channel: str | None, session_id: str | None) -> None:
        self.request_id = request_id
        self.channel = channel
        self.session_id = session_id
        self._pending: list[dict[str, Any]] = []
        self._uncommitted: list[dict[str, Any]] = []  # written in a transaction still open
        self.secrets: set[str] = set()

    def hide(self, values: Iterable[str]) -> None:
        """Never write these values: a tool's secret arguments, wherever they turn up (the
        request's text, the model's raw output, the plan, a tool's output)."""
        self.secrets.update(value for value in values if value)

    def add(self, kind: AuditKind, **data: Any) -> None:
        # "fields" is not a column: only the metrics read it.
        self._pending.append({"request_id": self.request_id, "session_id": self.session_id,
                              "channel": self.channel, "kind": AuditKind(kind).value,
                              "data": _encoded(data), "created_at": utcnow(), "fields": data})

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

    def _mask_pending(self) -> None:
        if not self.secrets:
            return
        for event in self._pending:
            event["fields"] = mask_secrets(event["fields"], self.secrets)
            event["data"] = _encoded(event["fields"])

    def flush(self, conn: Connection) -> None:
        if self._pending:
            self._mask_pending()
            repository.append(conn, self._pending, _chain)
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


def record(engine: Engine, kind: AuditKind, *, request_id: str | None = None, channel: str | None = None,
           session_id: str | None = None, **data: Any) -> None:
    """One event on its own; outside a turn it carries the HTTP request's id."""
    trail = AuditTrail(request_id or request_id_var.get(), channel, session_id)
    trail.add(kind, **data)
    trail.flush_now(engine)


@dataclass
class Verification:
    checked: int  # events verified
    broken: dict | None  # the first broken link: {"id", "problem"}
    checkpoint: Any = None  # where the chain was verified from, when its start was archived


def link_problem(prev: str, event) -> str | None:
    """What is wrong with `event` as the link after the hash `prev`, or None."""
    get = event.get if isinstance(event, dict) else lambda key: getattr(event, key)
    if get("prev_hash") != prev:
        return "does not follow the event before it (an event was removed, inserted or reordered)"
    if event_hash(prev, event) != get("hash"):
        return "its content does not match its hash (edited)"
    return None


def verify_chain(engine: Engine) -> Verification:
    """Walk the chain from its start, or from the newest checkpoint when its oldest events
    were archived; all of it read as of one moment."""
    with repository.snapshot(engine) as conn:
        checkpoint = repository.latest_checkpoint(conn)
        prev, before = (checkpoint.last_hash, checkpoint.chain_events) if checkpoint else (GENESIS, 0)
        oldest = repository.first_id(conn)
        if checkpoint and oldest is not None and oldest <= checkpoint.last_event_id:
            return Verification(0, {"id": oldest, "problem": "lies in the archived range: it was "
                                    "inserted, or the checkpoint moved, after the archive"}, checkpoint)
        checked = 0
        for row in repository.in_order(conn, after=checkpoint.last_event_id if checkpoint else 0):
            problem = link_problem(prev, row)
            if problem:
                return Verification(checked, {"id": row.id, "problem": problem}, checkpoint)
            prev, checked = row.hash, checked + 1
        head = repository.head(conn)
    if head.last_hash != prev or head.events != before + checked:
        return Verification(checked, {"id": None, "problem": f"the newest events are missing: the head "
                                      f"records {head.events - before} events, {checked} are there"}, checkpoint)
    return Verification(checked, None, checkpoint)


def verify(engine: Engine) -> tuple[int, dict | None]:
    """(events checked, the first broken link or None)."""
    result = verify_chain(engine)
    return result.checked, result.broken


def query(engine: Engine, *, session_id: str | None = None, request_id: str | None = None,
          kind: str | None = None, since: datetime | None = None, limit: int = 100,
          cursor: int | None = None) -> tuple[list[dict], int | None]:
    """Newest first; pass the returned cursor back for the next page."""
    rows = repository.newest(engine, session_id=session_id, request_id=request_id, kind=kind,
                             since=since, limit=limit, cursor=cursor)
    events = [{"id": r.id, "request_id": r.request_id, "session_id": r.session_id, "channel": r.channel,
               "kind": r.kind, "data": r.data, "created_at": r.created_at.isoformat(), "hash": r.hash}
              for r in rows]
    return events, (rows[-1].id if len(rows) == limit else None)
