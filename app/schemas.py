"""The bodies and the one response shape every agent route answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ExecutionStatus = Literal["success", "error", "blocked", "pending_confirmation", "cancelled"]
TurnStatus = Literal["success", "awaiting_confirmation", "tool_error", "error"]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(..., min_length=1, max_length=10000)
    session_id: str = Field(..., min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str = Field(..., min_length=1, max_length=10000)
    session_id: str = Field("default", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")


class ToolExecution(BaseModel):
    tool_name: str
    args: dict[str, Any] = {}
    status: ExecutionStatus
    duration_ms: int = 0
    output: Any = None
    error: str | None = None


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
