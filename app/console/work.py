"""The tasks board, a task's page (updates, files, Pause / Resume / Cancel through the task
service) and the agents page (status, Launch / Stop, log tail)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.console import repository
from app.console.agents_view import agents_status, log_tail
from app.console.pages import approval_items
from app.console.web import OperatorDep, check_csrf, redirect, render
from app.tasks.folders import listing
from app.tasks.service import TaskError
from app.tasks.states import ALLOWED_CHANGES, Stage, TaskStatus
from app.tools.errors import ToolError

router = APIRouter(prefix="/console", include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]
ACTIONS = {"pause": TaskStatus.PAUSED, "resume": TaskStatus.QUEUED, "cancel": TaskStatus.CANCELLED}


@router.get("/tasks", response_class=HTMLResponse)
def board(request: Request, operator: OperatorDep) -> Response:
    rows = repository.board(request.app.state.runtime.engine)
    columns = {stage.value: [] for stage in Stage}
    for row in rows:
        columns.setdefault(row.stage, []).append(row)
    return render(request, "tasks.html", {"columns": list(columns.items())}, operator=operator)


def _files(runtime, task_id: str, path: str) -> tuple[dict | None, str | None]:
    try:
        return listing(runtime.tasks.folder_of(task_id), path), None
    except TaskError as exc:
        return None, exc.message
    except (ToolError, FileNotFoundError, NotADirectoryError):
        return None, f"{path} is not a folder of this task"


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, operator: OperatorDep, task_id: str, path: str = ".") -> Response:
    runtime = request.app.state.runtime
    try:
        task = runtime.tasks.get(task_id)
    except TaskError as exc:
        return render(request, "missing.html", {"what": "Task", "message": exc.message}, status=exc.status,
                      operator=operator)
    files, files_error = _files(runtime, task_id, path)
    status = TaskStatus(task.status)
    pending = [r for r in repository.pending_approvals(runtime.engine) if r.session_id == task_id
               and r.channel == "task"]
    return render(request, "task.html", {
        "task": task, "updates": repository.task_updates(runtime.engine, task_id), "files": files,
        "files_error": files_error, "path": path,
        "can": {action: status in ALLOWED_CHANGES[to] and (action != "resume" or status == TaskStatus.PAUSED)
                for action, to in ACTIONS.items()},
        "items": approval_items(runtime.engine, pending)}, operator=operator)


@router.post("/tasks/{task_id}/{action}")
def task_action(request: Request, operator: OperatorDep, task_id: str, action: str, csrf: Csrf = "") -> Response:
    check_csrf(operator, csrf)
    back = f"/console/tasks/{task_id}"
    if action not in ACTIONS:
        return redirect(request, back, ("error", f"{action} is not something a task can do"))
    try:
        task = request.app.state.runtime.tasks.change_status(task_id, ACTIONS[action], by=operator.name)
    except TaskError as exc:
        return redirect(request, back, ("error", exc.message))
    return redirect(request, back, ("ok", f"The task is {task.status} now."))


@router.get("/tasks/{task_id}/files/{path:path}")
def task_file(request: Request, operator: OperatorDep, task_id: str, path: str) -> Response:
    """A download, never a page: a file a task wrote could hold HTML, and must not run here."""
    runtime = request.app.state.runtime
    try:
        target = runtime.tasks.folder_of(task_id).resolve(path)
    except TaskError as exc:
        return render(request, "missing.html", {"what": "File", "message": exc.message}, status=exc.status,
                      operator=operator)
    except ToolError:
        target = None
    if target is None or not target.is_file():
        return render(request, "missing.html", {"what": "File", "message": f"no file {path} in this task"},
                      status=404, operator=operator)
    return FileResponse(target, media_type="application/octet-stream", filename=target.name,
                        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})


@router.get("/agents", response_class=HTMLResponse)
def agents_page(request: Request, operator: OperatorDep) -> Response:
    runtime = request.app.state.runtime
    agents = agents_status(runtime)
    for agent in agents:
        agent["log"] = log_tail(runtime, agent["name"])
    return render(request, "agents.html", {"agents": agents}, operator=operator)


@router.post("/agents/{name}/{action}")
def agent_action(request: Request, operator: OperatorDep, name: str, action: str, csrf: Csrf = "") -> Response:
    check_csrf(operator, csrf)
    agents = request.app.state.runtime.agents
    if action not in ("launch", "stop"):
        return redirect(request, "/console/agents", ("error", f"{action} is not something an agent can do"))
    try:
        [service] = getattr(agents, action)([name], by=operator.name)
    except Exception as exc:  # the operator reads why; the page stays up
        return redirect(request, "/console/agents", ("error", f"Could not {action} {name}: {exc}"))
    record_action(request, name, action, operator.name)
    if service.get("status") == "failed":
        return redirect(request, "/console/agents", ("error", f"{name} failed: {service.get('error') or 'see its log'}"))
    return redirect(request, "/console/agents", ("ok", f"{name}: {service.get('status')}."))


def record_action(request: Request, name: str, action: str, by: str) -> None:
    request.app.state.runtime.tasks.log.info("console: %s asked to %s agent %s", by, action, name)
