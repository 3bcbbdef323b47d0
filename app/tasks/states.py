"""The closed vocabularies of a task, and which status changes a person may ask for."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    PAUSED = "paused"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (TaskStatus.COMPLETE, TaskStatus.FAILED, TaskStatus.CANCELLED)


class Stage(StrEnum):
    NOT_STARTED = "not_started"
    DESIGN = "design"
    BUILD = "build"
    TEST = "test"
    REVIEW = "review"
    COMPLETE = "complete"


class UpdateType(StrEnum):
    STATUS_CHANGE = "status_change"
    PROGRESS_UPDATE = "progress_update"
    NOTE = "note"
    STEP = "step"
    TOOL_EXECUTION = "tool_execution"
    CONFIRMATION = "confirmation"


class CallStatus(StrEnum):
    """A parked call of a task, once a person answered: confirmed -> running -> done, or
    interrupted when a worker died while it ran; declined when cancelled or expired."""
    CONFIRMED = "confirmed"
    RUNNING = "running"
    DONE = "done"
    INTERRUPTED = "interrupted"
    DECLINED = "declined"


# What `PUT /api/tasks/{id}/status` may change a task to, from which statuses.
ALLOWED_CHANGES: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.CANCELLED: frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.AWAITING_CONFIRMATION,
                                     TaskStatus.PAUSED}),
    TaskStatus.PAUSED: frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.AWAITING_CONFIRMATION}),
    TaskStatus.QUEUED: frozenset({TaskStatus.PAUSED, TaskStatus.FAILED}),
}
