"""The bodies and answers of the task routes, as the contract shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(..., min_length=1, max_length=200)
    description: str = Field(..., min_length=1, max_length=20000)
    complexity: int = Field(..., ge=1, le=10)
    priority: int = Field(0, ge=-1000, le=1000, description="higher first")
    agent: str | None = Field(None, min_length=1, max_length=64, description="a profile name")
    notify_email: str | None = Field(None, max_length=254, pattern=EMAIL)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["cancelled", "paused", "queued"]


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(..., min_length=1, max_length=1000)


class TaskConfirmation(BaseModel):
    token: str
    tool_name: str
    args: dict[str, Any]
    preview: str
    expires_at: datetime


class Task(BaseModel):
    id: str
    title: str
    description: str
    complexity: int
    priority: int
    status: str
    stage: str
    stage_progress: int
    agent: str | None
    steps: int
    waiting_for: str | None
    result: dict | None
    error: str | None
    workspace: str | None
    confirmations: list[TaskConfirmation] = []
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class TaskList(BaseModel):
    tasks: list[Task]
    next_cursor: str | None


class Update(BaseModel):
    id: int
    task_id: str
    agent: str | None
    update_type: str
    content: str
    data: dict[str, Any]
    timestamp: datetime


class UpdateList(BaseModel):
    updates: list[Update]


class FileEntry(BaseModel):
    name: str
    type: Literal["file", "dir", "symlink"]
    size: int | None


class Listing(BaseModel):
    path: str
    entries: list[FileEntry]


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: str = Field(..., min_length=1, max_length=64)
    task_id: str | None = Field(None, min_length=1, max_length=36)


class Workspace(BaseModel):
    id: int
    agent: str
    task_id: str | None
    workspace_path: str
    venv_path: str | None
    created_at: datetime
    last_accessed: datetime


class WorkspaceList(BaseModel):
    workspaces: list[Workspace]
