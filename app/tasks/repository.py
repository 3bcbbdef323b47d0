"""The statements of tasks: the queue (claims, leases), the step journal, updates, calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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


# -- the queue ----------------------------------------------------------------------------

def _claimable(now: datetime, agents: list[str] | None):
    free = sa.or_(t.c.lease_owner.is_(None), t.c.lease_expires_at < now)
    where = [sa.or_(
        # queued and not held by a worker still finishing its last step
        sa.and_(t.c.status == TaskStatus.QUEUED.value, free),
        # its worker died: the lease ran out
        sa.and_(t.c.status == TaskStatus.RUNNING.value, t.c.lease_expires_at < now),
        # waiting for a person past its confirmation's expiry: the model is told
        sa.and_(t.c.status == TaskStatus.AWAITING_CONFIRMATION.value, t.c.lease_expires_at < now)),
        t.c.agent.is_not(None)]
    if agents is not None:
        where.append(t.c.agent.in_(agents))
    return where


# The agents' caps, read here without importing the agents domain (which builds on tasks).
_agents = sa.table("agents", sa.column("name"), sa.column("max_tasks"))


def _under_cap():
    """Its agent runs fewer tasks than its `max_tasks` (or has none): a task paused, retried
    or answered goes back to the queue with its agent, and waits there for room."""
    others = t.alias("others")
    running = sa.select(sa.func.count()).select_from(others).where(
        others.c.agent == t.c.agent, others.c.status == TaskStatus.RUNNING.value).scalar_subquery()
    cap = sa.select(_agents.c.max_tasks).where(_agents.c.name == t.c.agent).scalar_subquery()
    return sa.or_(t.c.status == TaskStatus.RUNNING.value, cap.is_(None), running < cap)


UNDER_CAP = _under_cap()  # built once: a claim runs it often


def _room(conn: Connection, agent: str) -> bool:
    """Checked again under a write to the agent's row, so that two workers taking two of
    its tasks at once take turns and the second sees the first's. An agent with no cap
    (`default`, bound by the workers' slots) is not locked: its claims never wait on each other."""
    if conn.execute(sa.select(_agents.c.max_tasks).where(_agents.c.name == agent)).scalar() is None:
        return True
    conn.execute(sa.update(_agents).where(_agents.c.name == agent).values(name=_agents.c.name))
    cap = conn.execute(sa.select(_agents.c.max_tasks).where(_agents.c.name == agent)).scalar()
    if cap is None:
        return True
    running = conn.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.agent == agent, t.c.status == TaskStatus.RUNNING.value)).scalar_one()
    return running < cap


def claim(engine: Engine, owner: str, lease_sec: float, agents: list[str] | None = None) -> Any:
    """Take the next task, highest priority then oldest, as a lease; None when there is none.
    MySQL/MariaDB: one transaction with SELECT … FOR UPDATE SKIP LOCKED, so concurrent
    workers each take a different row without waiting. SQLite has one writer: the UPDATE's
    own condition decides."""
    now = utcnow()
    query = sa.select(t.c.id, t.c.status, t.c.agent).where(*_claimable(now, agents), UNDER_CAP).order_by(
        t.c.priority.desc(), t.c.created_at, t.c.id).limit(1)
    with engine.begin() as conn:
        skip_locked = conn.dialect.name != "sqlite"
        row = conn.execute(query.with_for_update(skip_locked=True) if skip_locked else query).first()
        if row is None:
            return None
        if row.status != TaskStatus.RUNNING.value and not _room(conn, row.agent):
            return None  # another worker took its agent's last place a moment ago
        taken = conn.execute(sa.update(t).where(t.c.id == row.id, *_claimable(now, agents)).values(
            status=TaskStatus.RUNNING.value, lease_owner=owner, waiting_for=None,
            lease_expires_at=now + timedelta(seconds=lease_sec), updated_at=now)).rowcount
        if not taken:
            return None
        claimed = get(conn, row.id)
    return claimed, TaskStatus(row.status)


def renew(engine: Engine, owner: str, task_ids: list[str], lease_sec: float) -> int:
    """Renew the leases of the tasks this worker is running now (only those: a task whose
    step failed here must run out, so that another worker takes it over)."""
    if not task_ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(sa.update(t).where(t.c.id.in_(task_ids), t.c.lease_owner == owner,
                                               t.c.status == TaskStatus.RUNNING.value)
                            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_sec))).rowcount


def release(conn: Connection, task_id: str, owner: str, **values: Any) -> bool:
    return change(conn, task_id, owner=owner, lease_owner=None, **values)


# -- steps, updates, calls ----------------------------------------------------------------

def insert_step(conn: Connection, task_id: str, step: int, plan: dict, results: list) -> None:
    """Raises IntegrityError when this step was stored already (by another worker)."""
    conn.execute(sa.insert(ts).values(task_id=task_id, step=step, plan=plan, results=results,
                                      created_at=utcnow()))


def steps(conn: Connection, task_id: str, last: int) -> list[Any]:
    """The newest `last` steps, oldest first."""
    rows = conn.execute(sa.select(ts).where(ts.c.task_id == task_id).order_by(ts.c.step.desc())
                        .limit(last)).all()
    return list(reversed(rows))


def add_updates(conn: Connection, task_id: str, agent: str | None, updates: list[tuple[str, str, dict]],
                stamps: list[datetime]) -> None:
    """(update_type, content, data) each, with when each happened; one statement."""
    conn.execute(sa.insert(tu), [{"task_id": task_id, "agent": agent, "update_type": str(kind), "content": content,
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


def add_workspace(conn: Connection, agent: str, task_id: str | None, path: str) -> bool:
    """False when that folder was recorded already (by a concurrent call)."""
    now = utcnow()
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(aw).values(agent=agent, task_id=task_id, workspace_path=path,
                                              created_at=now, last_accessed=now))
        return True
    except sa.exc.IntegrityError:
        return False


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
