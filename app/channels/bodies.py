"""The request bodies of the chat routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(..., min_length=1, max_length=10000)
    session_id: str = Field(..., min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: str = Field(..., min_length=1, max_length=10000)
    session_id: str = Field("default", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
