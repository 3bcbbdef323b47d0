"""The bodies of the answers the service gives itself when it refuses or fails a request, and
the `responses=` that document them on each route.

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


class Readiness(BaseModel):
    status: str = Field(description="`ready` or `not_ready`")
    checks: dict[str, dict[str, Any]] = Field(description="each dependency: `ok`, and `error` when not")


def error_payload(detail: Any, error: str) -> dict[str, Any]:
    return {"detail": detail, "error": error, "request_id": request_id_var.get() or ""}


_RATE_HEADERS = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    "X-RateLimit-Limit": {"description": "requests allowed a minute", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "requests left in the window", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "when the window resets, epoch seconds", "schema": {"type": "integer"}},
}

_STATUSES: dict[int, dict[str, Any]] = {
    400: {"description": "Refused as it stands: a Content-Length that is not a number, or a name or "
                        "cursor the route does not know"},
    401: {"description": "Missing or wrong API key or signature (audited)"},
    403: {"description": "The verification handshake failed (audited)"},
    404: {"description": "No such task, workspace, folder or file"},
    409: {"description": "Not possible in the task's present state"},
    413: {"description": "The body is larger than MAX_REQUEST_SIZE (audited)"},
    422: {"model": ValidationErrorBody, "description": "The body or a parameter is invalid (audited)"},
    429: {"description": "Over RATE_LIMIT_REQUESTS a minute (audited)", "headers": _RATE_HEADERS},
    500: {"description": "Something failed on our side; it is logged under `request_id`"},
    503: {"description": "The route is not configured on this server, or (webhooks) the first "
                        "delivery of this message is still being processed: retry later",
          "headers": {"Retry-After": _RATE_HEADERS["Retry-After"]}},
}


def error_responses(*statuses: int, as_json_ref: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may answer these statuses; 500 is always possible.
    `as_json_ref`: for a route whose own answers are not JSON (FastAPI would file a `model`
    under the route's media type), the body schema is referenced, as JSON, by name."""
    responses = {}
    for status in sorted({*statuses, 500}):
        entry = {"model": ErrorBody, **_STATUSES[status]}
        if as_json_ref:
            name = entry.pop("model").__name__
            entry["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}
        responses[status] = entry
    return responses
