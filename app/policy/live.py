"""The policy as it stands now: POLICY_FILE, read again when it changes, with the database's
grants and revocations replayed over it. A file that no longer parses keeps the last good
rules (said in the log and in /health/ready); the database is asked at most every few seconds,
so a change made on one node reaches every node within them."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy.engine import Engine

from app.policy import repository
from app.tools.policy import Change, Policy, PolicyError, load_policy

log = logging.getLogger("llm_planner.policy")
CHANGES_TTL_SEC = 2.0


@dataclass(frozen=True)
class PolicyStatus:
    ok: bool
    file: str | None
    error: str | None = None  # why the file on disk is not the one in force


class PolicySource:
    def __init__(self, path: Path | None, engine: Engine | None, *, ttl: float = CHANGES_TTL_SEC,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """Raises PolicyError when the file is bad from the start: nothing good to keep."""
        self.path, self.engine, self.ttl, self.monotonic = path, engine, ttl, monotonic
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._file = load_policy(path)
        self._error: str | None = None
        self._changes: list[Change] = []
        self._changes_at: float | None = None
        self._combined: Policy | None = None

    def current(self) -> Policy:
        with self._lock:
            changed = self._reload_file()
            changed = self._refresh_changes() or changed
            if changed or self._combined is None:
                self._combined = self._file.with_changes(self._changes)
            return self._combined

    def status(self) -> PolicyStatus:
        self.current()
        return PolicyStatus(ok=self._error is None, file=str(self.path) if self.path else None, error=self._error)

    def refresh(self) -> None:
        """Ask the database on the next look, not after the TTL (after a change made here)."""
        self._changes_at = None

    def _file_stamp(self) -> tuple | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError as exc:
            return ("missing", type(exc).__name__)
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    def _reload_file(self) -> bool:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            policy = load_policy(self.path)
        except PolicyError as exc:
            self._error = f"{exc}; the last good rules stay in force until it is fixed"
            log.error("%s", self._error)
            return False
        self._file, self._error = policy, None
        log.info("POLICY_FILE %s read again: %d rule(s) in force", self.path, len(policy.rules))
        return True

    def _refresh_changes(self) -> bool:
        if self.engine is None:
            return False
        now = self.monotonic()
        if self._changes_at is not None and now - self._changes_at < self.ttl:
            return False
        try:
            changes = repository.changes(self.engine)
        except Exception as exc:  # the database is away: the changes last seen stay in force
            log.warning("policy changes could not be read (%s); the last ones read stay in force",
                        type(exc).__name__)
            self._changes_at = now
            return False
        self._changes_at = now
        if changes == self._changes:
            return False
        self._changes = changes
        return True
