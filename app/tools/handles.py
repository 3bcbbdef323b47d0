"""Narrow handles a tool may be given besides its arguments: each is what one domain lets a
plugin do, and nothing more. Protocols, so the tools layer imports no domain above it."""

from __future__ import annotations

from typing import Protocol


class TaskDesk(Protocol):
    """Start a task and read where one stands (in a chat; a task's own steps get none)."""

    def start(self, title: str, description: str, complexity: int) -> dict:
        """The new task: id, status, stage, workspace."""

    def status(self, task_id: str) -> dict | None:
        """The task (title, status, stage, stage_progress, steps, error, result), or None."""
