"""The one response shape every agent route answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from app.tools.execution import ToolExecution

TurnStatus = Literal["success", "awaiting_confirmation", "tool_error", "error"]


class Confirmation(BaseModel):
    token: str
    tool_name: str
    args: dict[str, Any]
    preview: str
    expires_at: datetime


class AgentResponse(BaseModel):
    request_id: str
    session_id: str
    status: TurnStatus
    reply: str
    error: str | None = None
    tool_executions: list[ToolExecution] = []
    confirmations: list[Confirmation] = []
    created_at: datetime
    duration_ms: int
