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


class MemoryDesk(Protocol):
    """The memories of the person a chat is with, and no one else's (None inside a task)."""

    def remember(self, text: str) -> dict:
        """Keeps `text` (tokens and secrets masked first): its id, text and date.
        Raises ValueError when nothing is left of it."""

    def recall(self, query: str) -> list[dict]:
        """The memories that share words with `query`, the most relevant first."""

    def forget(self, memory_id: int) -> bool:
        """Deletes that memory when it is this person's; False when there is none such."""
