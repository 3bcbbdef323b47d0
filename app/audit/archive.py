"""Moving the oldest audit events out of the database to a JSON Lines file, and checking
such a file. The chain stays verifiable: a checkpoint row keeps the archived range's last
id and hash, and `verify_chain` starts there; the file's own links are checked by
`verify_archive`."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import Engine

from app.audit import repository
from app.audit.chain import GENESIS, link_problem
from app.store.tables import utcnow
from app.store.transactions import retried, writing

log = logging.getLogger("llm_planner.audit")
FIELDS = ("id", "request_id", "session_id", "channel", "kind", "data", "created_at", "prev_hash", "hash")


class ChainBroken(Exception):
    def __init__(self, event_id: int, problem: str) -> None:
        super().__init__(f"event {event_id}: {problem}")
        self.event_id, self.problem = event_id, problem
        self.archived = Archived()  # what was archived before the broken event


@dataclass
class Archived:
    events: int = 0
    first_id: int | None = None
    last_id: int | None = None


def archive(engine: Engine, before: datetime, out: Path, batch: int = 1000) -> Archived:
    """Move the chain's oldest events, up to the first one at or after `before`, to `out`
    (a new file). Each batch is one transaction holding the head's lock: its events are
    checked, written and synced to the file, removed, and the checkpoint moved past them,
    so the head and the checkpoint always agree. A chain found broken stops it
    (ChainBroken) before the broken event: what it cannot vouch for stays where it is."""
    done = Archived()
    checkpoint_id: int | None = None
    with open(out, "x", encoding="utf-8") as handle:  # never over an earlier archive
        while True:
            size = handle.tell()

            def transaction() -> tuple[list[Any], bool, int | None]:
                try:
                    with writing(engine) as conn:
                        taken, more = _batch(conn, handle, before, out, batch, checkpoint_id)
                        mark = repository.latest_checkpoint(conn).id if taken else checkpoint_id
                    return taken, more, mark
                except BaseException:
                    handle.truncate(size)  # the batch was rolled back: so are its lines
                    handle.seek(size)
                    raise

            try:
                taken, more, checkpoint_id = retried(transaction, lambda: None, "archiving audit events", log)
            except ChainBroken as exc:
                exc.archived = done
                raise
            if taken:
                done.events += len(taken)
                done.first_id = done.first_id or taken[0].id
                done.last_id = taken[-1].id
            if not more:
                return done


def _batch(conn, handle: IO[str], before: datetime, out: Path, limit: int,
           checkpoint_id: int | None) -> tuple[list[Any], bool]:
    """(the events archived, whether more may follow)."""
    repository.lock_head(conn)
    start = repository.latest_checkpoint(conn)
    prev = start.last_hash if start else GENESIS
    after = start.last_event_id if start else 0
    rows = repository.events_after(conn, after, limit)
    newest = repository.newest_id(conn)
    taken = []
    for row in rows:
        # The newest event always stays: SQLite (and MariaDB before 10.2.4, at a restart)
        # would number the next one from the largest id left, inside the archived range.
        if row.created_at >= before or row.id == newest:
            break
        problem = link_problem(prev, row)
        if problem:
            if not taken:
                raise ChainBroken(row.id, problem)
            break  # archive what came before it; the next batch reports it
        taken.append(row)
        prev = row.hash
    if not taken:
        return [], False
    for row in taken:
        handle.write(json.dumps(_line(row), ensure_ascii=False) + "\n")
    handle.flush()
    os.fsync(handle.fileno())
    repository.remove_events(conn, after, taken[-1].id)
    values = dict(last_event_id=taken[-1].id, last_hash=prev,
                  chain_events=(start.chain_events if start else 0) + len(taken))
    if checkpoint_id is None:
        repository.add_checkpoint(conn, first_event_id=taken[0].id, events=len(taken), before=before,
                                  archived_to=str(out.resolve())[:1024], created_at=utcnow(), **values)
    else:
        repository.extend_checkpoint(conn, checkpoint_id, len(taken), **values)
    return taken, len(taken) == len(rows) == limit and taken[-1].id != newest


def _line(row: Any) -> dict:
    line = {name: getattr(row, name) for name in FIELDS}
    line["created_at"] = row.created_at.isoformat()
    return line


@dataclass
class ArchiveCheck:
    checked: int
    broken: dict | None  # {"line", "id", "problem"}
    first_id: int | None = None
    last_id: int | None = None
    starts_after: str | None = None  # the hash the file's first event follows
    last_hash: str | None = None


def verify_archive(path: Path) -> ArchiveCheck:
    """Walk an archive file's chain: every line follows the one before it and matches its hash."""
    result = ArchiveCheck(0, None)
    prev = None
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            try:
                event = json.loads(text)
                event["created_at"] = datetime.fromisoformat(event["created_at"])
                missing = [name for name in FIELDS if name not in event]
            except (ValueError, TypeError, KeyError):
                missing = ["a JSON event"]
            if missing:
                result.broken = {"line": number, "id": None, "problem": f"is not an archived event "
                                 f"(missing {', '.join(missing)})"}
                return result
            if prev is None:
                prev = result.starts_after = event["prev_hash"]
                result.first_id = event["id"]
            problem = link_problem(prev, event)
            if problem:
                result.broken = {"line": number, "id": event["id"], "problem": problem}
                return result
            prev = result.last_hash = event["hash"]
            result.last_id = event["id"]
            result.checked += 1
    return result
