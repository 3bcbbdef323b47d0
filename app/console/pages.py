"""The overview, conversations, approvals and audit pages. Approve and Reject go through
`app.confirmations.approvals`, the same single-use claim as `confirm <token>`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.audit import chain
from app.channel import Channel
from app.confirmations import approvals
from app.confirmations.approvals import NotPending
from app.confirmations.sealing import SEALED
from app.console import repository
from app.console.agents_view import agents_status
from app.console.web import OperatorDep, check_csrf, redirect, render, safe_next
from app.store.tables import utcnow
from app.tasks.states import TaskStatus

router = APIRouter(prefix="/console", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]
AUDIT_PAGE = 100
MAX_ROW_ID = 2**63 - 1  # past a BIGINT an id names no row (and SQLite cannot even bind it)
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.get("", response_class=HTMLResponse)
def overview(request: Request, operator: OperatorDep) -> Response:
    runtime = request.app.state.runtime
    figures = repository.overview(runtime.engine, utcnow() - timedelta(hours=24))
    agents = agents_status(runtime)
    return render(request, "overview.html", {
        "figures": figures, "statuses": [s.value for s in TaskStatus],
        "agents_up": sum(1 for a in agents if a["up"]), "agents_total": len(agents)}, operator=operator)


@router.get("/conversations", response_class=HTMLResponse)
def conversations(request: Request, operator: OperatorDep) -> Response:
    rows = repository.conversations(request.app.state.runtime.engine)
    by_channel: dict[str, list] = {}
    for row in rows:
        by_channel.setdefault(row.channel, []).append(row)
    return render(request, "conversations.html", {"by_channel": sorted(by_channel.items())}, operator=operator)


@router.get("/conversations/{channel}/{session_id:path}", response_class=HTMLResponse)
def conversation(request: Request, operator: OperatorDep, channel: str, session_id: str) -> Response:
    engine = request.app.state.runtime.engine
    events = repository.session_events(engine, channel, session_id)
    return render(request, "conversation.html", {
        "channel": channel, "session_id": session_id,
        "messages": repository.session_messages(engine, channel, session_id),
        "plans": [e for e in events if e.kind in ("plan", "plan_rejected")],
        "executions": [e for e in events if e.kind == "tool_execution"],
        "decisions": [e for e in events if e.kind.startswith("confirmation_")]}, operator=operator)


def approval_items(engine, rows) -> list[dict]:
    titles = repository.task_titles(engine, [r.session_id for r in rows if r.channel == Channel.TASK])
    # Secret arguments are stored masked beside their sealed value: only the masked one shows.
    return [{"row": r, "args": {k: v for k, v in (r.args or {}).items() if k != SEALED},
             "task_title": titles.get(r.session_id)} for r in rows]


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, operator: OperatorDep) -> Response:
    engine = request.app.state.runtime.engine
    return render(request, "approvals.html", {
        "items": approval_items(engine, repository.pending_approvals(engine))}, operator=operator)


@router.post("/approvals/{confirmation_id}/approve")
def approve(request: Request, operator: OperatorDep, confirmation_id: RowId, csrf: Csrf = "",
            reason: Annotated[str, Form(max_length=500)] = "",
            next: Annotated[str, Form(max_length=2000)] = "/console/approvals") -> Response:
    check_csrf(operator, csrf)
    try:
        decided, execution = approvals.approve(request.app.state.runtime, confirmation_id, operator.name,
                                               reason.strip() or None)
    except NotPending as exc:
        return redirect(request, safe_next(next), ("error", str(exc)))
    said = f"Approved {decided.row.tool_name} (confirmation {confirmation_id})"
    if execution is None:
        return redirect(request, safe_next(next), ("ok", f"{said}: the task runs it next."))
    if execution.status == "success":
        return redirect(request, safe_next(next), ("ok", f"{said}: it ran."))
    return redirect(request, safe_next(next), (
        "error", f"{said}, but it did not run: {execution.status}: {execution.error or ''}".rstrip(": ")))


@router.post("/approvals/{confirmation_id}/reject")
def reject(request: Request, operator: OperatorDep, confirmation_id: RowId, csrf: Csrf = "",
           reason: Annotated[str, Form(max_length=500)] = "",
           next: Annotated[str, Form(max_length=2000)] = "/console/approvals") -> Response:
    check_csrf(operator, csrf)
    try:
        decided = approvals.reject(request.app.state.runtime, confirmation_id, operator.name,
                                   reason.strip() or None)
    except NotPending as exc:
        return redirect(request, safe_next(next), ("error", str(exc)))
    return redirect(request, safe_next(next),
                    ("ok", f"Rejected {decided.row.tool_name} (confirmation {confirmation_id}); nothing ran."))


def _audit(request: Request, operator, session: str, request_id: str, kind: str, cursor: int | None,
           verification=None) -> Response:
    events, next_cursor = chain.query(request.app.state.runtime.engine, session_id=session or None,
                                      request_id=request_id or None, kind=kind or None, limit=AUDIT_PAGE,
                                      cursor=cursor)
    filters = {"session": session, "request_id": request_id, "kind": kind}
    older = None
    if next_cursor:
        older = "/console/audit?" + urlencode({**{k: v for k, v in filters.items() if v}, "cursor": next_cursor})
    return render(request, "audit.html", {"events": events, "filters": filters, "older": older,
                                          "verification": verification}, operator=operator)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, operator: OperatorDep,
          session: Annotated[str, Query(max_length=128)] = "",
          request_id: Annotated[str, Query(max_length=36)] = "",
          kind: Annotated[str, Query(max_length=48)] = "",
          cursor: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None) -> Response:
    return _audit(request, operator, session, request_id, kind, cursor)


@router.post("/audit")
def audit_filter(request: Request, operator: OperatorDep, csrf: Csrf = "",
                 session: Annotated[str, Form(max_length=128)] = "",
                 request_id: Annotated[str, Form(max_length=36)] = "",
                 kind: Annotated[str, Form(max_length=48)] = "") -> Response:
    """The filter form posts (it carries a CSRF token like every form) and lands on the
    bookmarkable address."""
    check_csrf(operator, csrf)
    query = urlencode({k: v.strip() for k, v in (("session", session), ("request_id", request_id),
                                                 ("kind", kind)) if v.strip()})
    return redirect(request, "/console/audit" + (f"?{query}" if query else ""))


@router.post("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, operator: OperatorDep, csrf: Csrf = "") -> Response:
    check_csrf(operator, csrf)
    result = chain.verify_chain(request.app.state.runtime.engine)
    broken_event = None
    if result.broken and result.broken.get("id"):
        found, _ = chain.query(request.app.state.runtime.engine, cursor=result.broken["id"] + 1, limit=1)
        broken_event = found[0] if found and found[0]["id"] == result.broken["id"] else None
    return _audit(request, operator, "", "", "", None,
                  verification={"checked": result.checked, "broken": result.broken, "event": broken_event})
