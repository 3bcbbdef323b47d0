"""The statements of tasks: the task rows, the step journal, updates, calls, workspaces. The
queue (claims and leases) is app/tasks/queue.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.store.direct import Direct
from app.store.tables import pending_confirmations as pc
from app.store.tables import utcnow
from app.tasks.states import CallStatus, TaskStatus
from app.tasks.tables import agent_workspaces as aw
from app.tasks.tables import task_calls as tc
from app.tasks.tables import task_steps as ts
from app.tasks.tables import task_updates as tu
from app.tasks.tables import tasks as t

# -- tasks --------------------------------------------------------------------------------


def insert(conn: Connection, **values: Any) -> None:
    conn.execute(sa.insert(t).values(**values))


def get(conn: Connection, task_id: str, *, lock: bool = False) -> Any:
    query = sa.select(t).where(t.c.id == task_id)
    return conn.execute(query.with_for_update() if lock else query).one_or_none()


# A step's own statements, built once and run on the driver's cursor (app/store/direct.py):
# a step runs them every time, and building and compiling them anew cost a fifth of a
# step's CPU (BENCHMARKS.md, Tasks).
_STATUS = Direct(sa.select(t.c.status).where(t.c.id == sa.bindparam("id")))
_STEP_STORED = Direct(sa.update(t).where(
    t.c.id == sa.bindparam("id"), t.c.lease_owner == sa.bindparam("owner"),
    t.c.status == TaskStatus.RUNNING.value).values(
    steps=sa.bindparam("steps"), tokens=sa.bindparam("tokens"), running_ms=sa.bindparam("running_ms"),
    stage=sa.bindparam("stage"), stage_progress=sa.bindparam("stage_progress"),
    updated_at=sa.bindparam("updated_at")))
_INSERT_STEP = Direct(sa.insert(ts), keys=("task_id", "step", "plan", "results", "created_at"))
_ADD_UPDATES = Direct(sa.insert(tu), keys=("task_id", "agent", "update_type", "content", "data", "created_at"))


# What a task folder's README.md shows: only these columns are read for it, after every
# task and at each change of stage.
_README_TASK = sa.select(t.c.workspace, t.c.title, t.c.description, t.c.status, t.c.stage, t.c.stage_progress,
                         t.c.steps).where(t.c.id == sa.bindparam("id"))
_README_UPDATES = sa.select(tu.c.created_at, tu.c.update_type, tu.c.content).where(
    tu.c.task_id == sa.bindparam("id")).order_by(tu.c.id).limit(sa.bindparam("n", type_=sa.Integer))


def for_readme(conn: Connection, task_id: str, limit: int) -> tuple[Any, list[Any]]:
    """The task and its first `limit` updates, as its README.md shows them (None: no task)."""
    task = conn.execute(_README_TASK, {"id": task_id}).one_or_none()
    return task, conn.execute(_README_UPDATES, {"id": task_id, "n": limit}).all() if task else []


def status(conn: Connection, task_id: str) -> str | None:
    rows = _STATUS.rows(conn, {"id": task_id})
    return rows[0][0] if rows else None


def step_stored(conn: Connection, task_id: str, owner: str, *, steps: int, tokens: int, running_ms: int,
                stage: str, stage_progress: int) -> bool:
    """A step that keeps its task running: its counters and stage, only while the task runs
    under `owner`'s lease (True when so)."""
    return _STEP_STORED.run(conn, {"id": task_id, "owner": owner, "steps": steps, "tokens": tokens,
                                   "running_ms": running_ms, "stage": stage, "stage_progress": stage_progress,
                                   "updated_at": utcnow()}) == 1


def page(conn: Connection, *, status: str | None, stage: str | None, agent: str | None, limit: int,
         after: Any = None) -> list[Any]:
    """Newest first; `after` is the last row of the previous page."""
    where = [c for c in (t.c.status == status if status else None, t.c.stage == stage if stage else None,
                         t.c.agent == agent if agent else None) if c is not None]
    if after is not None:
        where.append(sa.or_(t.c.created_at < after.created_at,
                            sa.and_(t.c.created_at == after.created_at, t.c.id < after.id)))
    return conn.execute(sa.select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id.desc())
                        .limit(limit)).all()


def change(conn: Connection, task_id: str, *, from_status: frozenset[str] | None = None,
           owner: str | None = None, **values: Any) -> bool:
    """A conditional UPDATE: True when the task was in one of `from_status` (and, with
    `owner`, still leased by it) and so was changed."""
    where = [t.c.id == task_id]
    if from_status is not None:
        where.append(t.c.status.in_([str(s) for s in from_status]))
    if owner is not None:
        where.append(t.c.lease_owner == owner)
    values.setdefault("updated_at", utcnow())
    return conn.execute(sa.update(t).where(*where).values(**values)).rowcount == 1


def running_count(conn: Connection, agent: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.agent == agent, t.c.status == TaskStatus.RUNNING.value)).scalar_one()


def unassigned(conn: Connection, limit: int = 100) -> list[Any]:
    return conn.execute(sa.select(t).where(t.c.status == TaskStatus.QUEUED.value, t.c.agent.is_(None))
                        .order_by(t.c.priority.desc(), t.c.created_at).limit(limit)).all()


# -- steps, updates, calls ----------------------------------------------------------------

class StepStored(Exception):
    """This step of the task was stored already (by another worker)."""


def insert_step(conn: Connection, task_id: str, step: int, plan: dict, results: list) -> None:
    """Raises StepStored when this step was stored already: the (task, step) key decides."""
    try:
        _INSERT_STEP.run(conn, {"task_id": task_id, "step": step, "plan": plan, "results": results,
                                "created_at": utcnow()})
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        raise StepStored(f"task {task_id}: step {step}") from exc


def steps(conn: Connection, task_id: str, last: int) -> list[Any]:
    """The newest `last` steps, oldest first."""
    rows = conn.execute(sa.select(ts).where(ts.c.task_id == task_id).order_by(ts.c.step.desc())
                        .limit(last)).all()
    return list(reversed(rows))


def add_updates(conn: Connection, task_id: str, agent: str | None, updates: list[tuple[str, str, dict]],
                stamps: list[datetime]) -> None:
    """(update_type, content, data) each, with when each happened; one statement."""
    _ADD_UPDATES.run_many(conn, [{"task_id": task_id, "agent": agent, "update_type": str(kind), "content": content,
                                  "data": data, "created_at": at} for (kind, content, data), at in zip(updates, stamps)])


def updates(conn: Connection, task_id: str, after: int | None, limit: int) -> list[Any]:
    where = [tu.c.task_id == task_id] + ([tu.c.id > after] if after else [])
    return conn.execute(sa.select(tu).where(*where).order_by(tu.c.id).limit(limit)).all()


def insert_call(conn: Connection, task_id: str, token_id: str, tool_name: str, args: dict,
                status: CallStatus, error: str | None = None) -> None:
    now = utcnow()
    conn.execute(sa.insert(tc).values(task_id=task_id, token_id=token_id, tool_name=tool_name, args=args,
                                      status=status.value, error=error, created_at=now, updated_at=now))


def answered_calls(conn: Connection, task_id: str) -> list[Any]:
    ended = [CallStatus.DONE.value, CallStatus.INTERRUPTED.value, CallStatus.DECLINED.value]
    return conn.execute(sa.select(tc).where(tc.c.task_id == task_id, tc.c.status.in_(ended))
                        .order_by(tc.c.id)).all()


def calls(conn: Connection, task_id: str, *statuses: CallStatus) -> list[Any]:
    return conn.execute(sa.select(tc).where(tc.c.task_id == task_id, tc.c.status.in_([s.value for s in statuses]))
                        .order_by(tc.c.id)).all()


def move_call(conn: Connection, call_id: int, from_status: CallStatus, to_status: CallStatus,
              **values: Any) -> bool:
    """One conditional UPDATE: a call moves on once, whoever tries."""
    return conn.execute(sa.update(tc).where(tc.c.id == call_id, tc.c.status == from_status.value)
                        .values(status=to_status.value, updated_at=utcnow(), **values)).rowcount == 1


def pending_confirmations(conn: Connection, task_id: str, channel: str) -> list[Any]:
    return conn.execute(sa.select(pc).where(pc.c.channel == channel, pc.c.session_id == task_id,
                                            pc.c.status == "pending").order_by(pc.c.id)).all()


def cancel_pending_confirmations(conn: Connection, task_id: str, channel: str) -> int:
    return conn.execute(sa.update(pc).where(pc.c.channel == channel, pc.c.session_id == task_id,
                                            pc.c.status == "pending")
                        .values(status="cancelled", resolved_at=utcnow())).rowcount


# -- workspaces ---------------------------------------------------------------------------

def workspace(conn: Connection, agent: str, task_id: str | None) -> Any:
    where = [aw.c.agent == agent, aw.c.task_id == task_id if task_id else aw.c.task_id.is_(None)]
    return conn.execute(sa.select(aw).where(*where)).first()


def workspace_by_id(conn: Connection, workspace_id: int) -> Any:
    return conn.execute(sa.select(aw).where(aw.c.id == workspace_id)).one_or_none()


# One statement, no savepoint: a folder recorded already (by a concurrent call) is left as it is.
_ADD_WORKSPACE = (sa.insert(aw).prefix_with("IGNORE", dialect="mysql").prefix_with("IGNORE", dialect="mariadb")
                  .prefix_with("OR IGNORE", dialect="sqlite"))


def add_workspace(conn: Connection, agent: str, task_id: str | None, path: str) -> bool:
    """False when that folder was recorded already (by a concurrent call)."""
    now = utcnow()
    return conn.execute(_ADD_WORKSPACE, {"agent": agent, "task_id": task_id, "workspace_path": path,
                                         "created_at": now, "last_accessed": now}).rowcount == 1


def workspaces(conn: Connection, agent: str | None, task_id: str | None) -> list[Any]:
    where = [c for c in (aw.c.agent == agent if agent else None,
                         aw.c.task_id == task_id if task_id else None) if c is not None]
    return conn.execute(sa.select(aw).where(*where).order_by(aw.c.id)).all()


def touch_workspace(conn: Connection, workspace_id: int) -> None:
    conn.execute(sa.update(aw).where(aw.c.id == workspace_id).values(last_accessed=utcnow()))


# -- the completion e-mail ------------------------------------------------------------------


def has_update(conn: Connection, task_id: str, update_type: str, content_prefix: str) -> bool:
    """Whether the task has an update of `update_type` whose content starts so."""
    escaped = content_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return conn.execute(sa.select(tu.c.id).where(
        tu.c.task_id == task_id, tu.c.update_type == update_type,
        tu.c.content.like(escaped + "%", escape="\\")).limit(1)).first() is not None
