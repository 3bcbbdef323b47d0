"""The task routes (`/api/tasks…`) and the agents' workspaces (`/api/workspaces…`), behind
AGENT_API_KEY (503 while it is unset)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Annotated

import anyio
from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from app.http.bodies import error_responses
from app.http.deps import RuntimeDep, agent_key_required, api_key_name
from app.tasks import repository
from app.tasks.folders import Folders, listing
from app.tasks.schemas import (
    Listing,
    StatusChange,
    Task,
    TaskCreate,
    TaskList,
    TokenBody,
    UpdateList,
    Workspace,
    WorkspaceCreate,
    WorkspaceList,
)
from app.tasks.states import TaskStatus
from app.tools.errors import ToolError
from app.tools.workspace import Workspace as Folder

router = APIRouter(prefix="/api", tags=["tasks"], dependencies=[Depends(agent_key_required)],
                   responses=error_responses(400, 401, 404, 409, 413, 422, 503))
EVENTS_POLL_SEC = 0.5


@router.post("/tasks", status_code=201, response_model=Task)
def create_task(body: TaskCreate, request: Request, runtime: RuntimeDep) -> Task:
    return runtime.tasks.create(body, api_key_name=api_key_name(request))


@router.get("/tasks", response_model=TaskList)
def list_tasks(runtime: RuntimeDep,
               status: Annotated[TaskStatus | None, Query()] = None,
               stage: Annotated[str | None, Query(max_length=16)] = None,
               agent: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               cursor: Annotated[str | None, Query(max_length=100)] = None) -> TaskList:
    tasks, next_cursor = runtime.tasks.page(status=status, stage=stage, agent=agent, limit=limit,
                                            cursor=cursor)
    return TaskList(tasks=tasks, next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=Task)
def get_task(task_id: str, runtime: RuntimeDep) -> Task:
    return runtime.tasks.get(task_id)


@router.put("/tasks/{task_id}/status", response_model=Task)
def change_status(task_id: str, body: StatusChange, runtime: RuntimeDep) -> Task:
    return runtime.tasks.change_status(task_id, TaskStatus(body.status))


@router.get("/tasks/{task_id}/updates", response_model=UpdateList)
def task_updates(task_id: str, runtime: RuntimeDep,
                 after: Annotated[int | None, Query(ge=0)] = None,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> UpdateList:
    return UpdateList(updates=runtime.tasks.updates(task_id, after, limit))


@router.get("/tasks/{task_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "each new update"}})
async def task_events(task_id: str, request: Request, runtime: RuntimeDep,
                      after: Annotated[int | None, Query(ge=0)] = None) -> StreamingResponse:
    """Each new update as `data: <update JSON>`; the stream ends once the task has ended."""
    tasks = runtime.tasks
    await anyio.to_thread.run_sync(tasks.get, task_id)  # 404 for an unknown task, before the stream

    async def stream():
        last = after
        while True:
            task = await anyio.to_thread.run_sync(tasks.get, task_id)
            updates = await anyio.to_thread.run_sync(tasks.updates, task_id, last, 200)
            for update in updates:
                last = update.id
                yield f"id: {update.id}\ndata: {update.model_dump_json()}\n\n"
            if TaskStatus(task.status).ended and not updates:
                return
            if await request.is_disconnected():
                return
            if not updates:
                yield ": waiting\n\n"  # keeps proxies from closing an idle stream
                await asyncio.sleep(EVENTS_POLL_SEC)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/tasks/{task_id}/confirm", response_model=Task)
def confirm_call(task_id: str, body: TokenBody, runtime: RuntimeDep) -> Task:
    return runtime.tasks.answer(task_id, body.token, "confirm")


@router.post("/tasks/{task_id}/cancel", response_model=Task)
def cancel_call(task_id: str, body: TokenBody, runtime: RuntimeDep) -> Task:
    return runtime.tasks.answer(task_id, body.token, "cancel")


# -- files: the task's folder, and the agents' workspaces (the same folders) ---------------

def _task_folder(runtime, task_id: str) -> Folder:
    return runtime.tasks.folder_of(task_id)


def _list(folder: Folder, path: str) -> Listing:
    try:
        return Listing(**listing(folder, path))
    except (ToolError, FileNotFoundError):
        raise HTTPException(404, f"no folder {path!r} here") from None


def _file(folder: Folder, path: str) -> FileResponse:
    try:
        target = folder.resolve(path)
    except ToolError:
        raise HTTPException(404, f"no file {path!r} here") from None
    if not target.is_file():
        raise HTTPException(404, f"no file {path!r} here")
    return FileResponse(target, filename=target.name)


def _put(folder: Folder, path: str, data: bytes) -> dict:
    try:
        target = folder.resolve(path)
        folder.resolve(os.path.relpath(target.parent, folder.root))  # its folder is inside too
    except ToolError as exc:
        raise HTTPException(404, str(exc)) from None
    if target == folder.root or target.is_dir():
        raise HTTPException(409, f"{path!r} is a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, target)
    return {"path": folder.relative(target), "bytes": len(data)}


@router.get("/tasks/{task_id}/files", response_model=Listing)
def task_files(task_id: str, runtime: RuntimeDep, path: Annotated[str, Query(max_length=1024)] = ".") -> Listing:
    return _list(_task_folder(runtime, task_id), path)


@router.get("/tasks/{task_id}/files/{path:path}", response_class=FileResponse)
def task_file(task_id: str, path: str, runtime: RuntimeDep) -> FileResponse:
    return _file(_task_folder(runtime, task_id), path)


@router.put("/tasks/{task_id}/files/{path:path}", status_code=201)
async def put_task_file(task_id: str, path: str, request: Request, runtime: RuntimeDep) -> dict:
    folder = await anyio.to_thread.run_sync(_task_folder, runtime, task_id)
    data = await request.body()  # bounded by MAX_REQUEST_SIZE before the route runs
    return await anyio.to_thread.run_sync(_put, folder, path, data)


def _workspace_view(row) -> Workspace:
    return Workspace(id=row.id, agent=row.agent, task_id=row.task_id, workspace_path=row.workspace_path,
                     venv_path=row.venv_path, created_at=row.created_at, last_accessed=row.last_accessed)


@router.get("/workspaces", response_model=WorkspaceList)
def list_workspaces(runtime: RuntimeDep, agent: Annotated[str | None, Query(max_length=64)] = None,
                    task_id: Annotated[str | None, Query(max_length=36)] = None) -> WorkspaceList:
    with runtime.engine.connect() as conn:
        rows = repository.workspaces(conn, agent, task_id)
    return WorkspaceList(workspaces=[_workspace_view(r) for r in rows])


@router.post("/workspaces", response_model=Workspace, status_code=201,
             responses={200: {"model": Workspace, "description": "it existed already"}})
def create_workspace(body: WorkspaceCreate, runtime: RuntimeDep):
    if body.agent not in runtime.tasks.agents():
        raise HTTPException(400, f"no agent named {body.agent!r}")
    folders: Folders = runtime.tasks.folders
    if body.task_id:
        with runtime.engine.connect() as conn:
            task = repository.get(conn, body.task_id)
        if task is None or task.agent != body.agent:
            raise HTTPException(404, f"no task {body.task_id} of agent {body.agent}")
        relative = task.workspace
        folders.make_task_folder(relative)
    else:
        relative = folders.global_path(body.agent)
        folders.make_global_folder(relative)
    with runtime.engine.begin() as conn:
        created = repository.add_workspace(conn, body.agent, body.task_id, relative)
        row = repository.workspace(conn, body.agent, body.task_id)
    view = _workspace_view(row)
    return view if created else JSONResponse(view.model_dump(mode="json"), status_code=200)


# A row id: past a BIGINT it names no workspace (and SQLite cannot even bind it).
WorkspaceId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _workspace_folder(runtime, workspace_id: int) -> Folder:
    with runtime.engine.begin() as conn:
        row = repository.workspace_by_id(conn, workspace_id)
        if row is None:
            raise HTTPException(404, f"no workspace {workspace_id}")
        repository.touch_workspace(conn, workspace_id)
    return runtime.tasks.folders.open(row.workspace_path)


@router.get("/workspaces/{workspace_id}/files", response_model=Listing)
def workspace_files(workspace_id: WorkspaceId, runtime: RuntimeDep,
                    path: Annotated[str, Query(max_length=1024)] = ".") -> Listing:
    return _list(_workspace_folder(runtime, workspace_id), path)


@router.get("/workspaces/{workspace_id}/files/{path:path}", response_class=FileResponse)
def workspace_file(workspace_id: WorkspaceId, path: str, runtime: RuntimeDep) -> FileResponse:
    return _file(_workspace_folder(runtime, workspace_id), path)



@router.post("/workspaces/{workspace_id}/files", status_code=201)
async def upload_workspace_file(workspace_id: WorkspaceId, runtime: RuntimeDep, file: Annotated[UploadFile, File()],
                                path: Annotated[str, Form(min_length=1, max_length=1024)]) -> dict:
    """Multipart `file` and `path`: the file put at `path` in that workspace (the body is
    bounded by MAX_REQUEST_SIZE before the route runs)."""
    folder = await anyio.to_thread.run_sync(_workspace_folder, runtime, workspace_id)
    data = await file.read()
    return await anyio.to_thread.run_sync(_put, folder, path, data)
