"""The bodies of the answers the service gives itself when it refuses or fails a request.

Every such body keeps FastAPI's `detail` (what programs already read) and adds `error`, a
sentence a chat gateway can show a person, and `request_id`, the same id as the
X-Request-ID header, to quote when reporting a problem."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.observability.logs import request_id_var


class ErrorBody(BaseModel):
    detail: str = Field(description="the short reason, as FastAPI words it")
    error: str = Field(description="the same, in a sentence a person can read")
    request_id: str = Field(description="the X-Request-ID of this answer")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: `body`, `query` or `header`, then the field")
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    detail: list[ValidationIssue] = Field(description="each problem found, at most 20")
    error: str = Field(description="the problems, in a sentence a person can read")
    request_id: str = Field(description="the X-Request-ID of this answer")


def error_payload(detail: Any, error: str) -> dict[str, Any]:
    return {"detail": detail, "error": error, "request_id": request_id_var.get() or ""}
