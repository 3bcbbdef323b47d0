"""What became of one tool call: the shape every response and the audit trail carry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

ExecutionStatus = Literal["success", "error", "blocked", "pending_confirmation", "cancelled"]


class ToolExecution(BaseModel):
    tool_name: str
    args: dict[str, Any] = {}
    status: ExecutionStatus
    duration_ms: int = 0
    output: Any = None
    error: str | None = None
