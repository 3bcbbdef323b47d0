"""Operator routes: the audit trail, behind ADMIN_API_KEY."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator

from app.audit import chain
from app.http.bodies import error_responses
from app.http.deps import RuntimeDep, admin_key

router = APIRouter(tags=["operator"])


def _iso_only(value):
    # Pydantic would read a bare number as seconds since 1970: a date nobody meant.
    if isinstance(value, str) and not re.match(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("since must be an ISO-8601 date or time, e.g. 2026-12-01T09:00:00Z")
    return value


@router.get("/audit", dependencies=[Depends(admin_key)], responses=error_responses(401, 422, 503))
def audit_events(
    runtime: RuntimeDep,
    session_id: Annotated[str | None, Query(max_length=128)] = None,
    request_id: Annotated[str | None, Query(max_length=36)] = None,
    kind: Annotated[str | None, Query(max_length=48)] = None,
    since: Annotated[datetime | None, BeforeValidator(_iso_only),
                     Query(description="ISO-8601; events at or after it")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=1, description="next_cursor of the previous page")] = None,
) -> dict:
    if since is not None and since.tzinfo is None:
        since = since.astimezone()  # a naive time means the server's local time
    events, next_cursor = chain.query(runtime.engine, session_id=session_id, request_id=request_id,
                                      kind=kind, since=since, limit=limit, cursor=cursor)
    return {"events": events, "next_cursor": next_cursor}
