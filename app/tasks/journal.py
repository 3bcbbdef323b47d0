"""A task's updates, gathered while it works and written with the transaction that stores
what they describe: each is a `task_updates` row and an audit event carrying the task's id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from app.audit.chain import AuditTrail
from app.audit.kinds import AuditKind
from app.masking import mask_secrets
from app.store.tables import utcnow
from app.tasks import repository
from app.tasks.states import UpdateType


class Journal:
    def __init__(self, task_id: str, agent: str | None, trail: AuditTrail) -> None:
        self.task_id, self.agent, self.trail = task_id, agent, trail
        self._pending: list[tuple[UpdateType, str, dict]] = []
        self._own_event: list[bool] = []
        self._stamps: list[datetime] = []

    def add(self, update_type: UpdateType, content: str, *, has_event: bool = False, **data: Any) -> None:
        """`has_event`: the trail already holds this update's own audit event (a tool
        execution, a confirmation asked), which carries the task's id: not written twice."""
        self._pending.append((update_type, content[:4000], data))
        self._own_event.append(has_event)
        self._stamps.append(utcnow())  # when it happened, not when its transaction commits

    def flush(self, conn: Connection) -> None:
        """The updates, then the trail (the audit chain last: its lock is held shortest)."""
        if self.trail.secrets:  # a secret argument met in this step is in no update either
            self._pending = [(kind, mask_secrets(content, self.trail.secrets), mask_secrets(data, self.trail.secrets))
                             for kind, content, data in self._pending]
        if self._pending:
            repository.add_updates(conn, self.task_id, self.agent, self._pending, self._stamps)
        for (update_type, content, data), has_event in zip(self._pending, self._own_event):
            if not has_event:
                self.trail.add(AuditKind.TASK_UPDATE, task_id=self.task_id, update_type=update_type.value,
                               content=content, **data)
        self._pending, self._own_event, self._stamps = [], [], []
        self.trail.flush(conn)
