"""The statements of agents: the profiles' rows, assignment, and the launched services."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.agents.tables import agent_services as s
from app.agents.tables import agents as a
from app.store.tables import utcnow
from app.tasks.states import TaskStatus
from app.tasks.tables import tasks as t

# What counts against `max_tasks`: tasks it holds and may run now (paused ones and those
# waiting for a person do not).
ACTIVE = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)

# -- profiles -----------------------------------------------------------------------------


def sync(conn: Connection, profiles: list[dict]) -> None:
    """Bring the rows in line with the file: new ones added, declared ones updated (an
    operator's `offline` kept), those no longer declared kept and made offline."""
    now = utcnow()
    existing = {row.name: row for row in conn.execute(sa.select(a)).all()}
    for values in profiles:
        row = existing.get(values["name"])
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(a).values(status="available", declared=True, created_at=now, **values))
                continue
            except sa.exc.IntegrityError:  # another node added it meanwhile
                pass
        update = dict(values, declared=True)
        if row is not None and not row.declared:
            update["status"] = "available"  # declared again: back in rotation
        conn.execute(sa.update(a).where(a.c.name == values["name"]).values(**update))
    gone = [name for name, row in existing.items() if row.declared and name not in {v["name"] for v in profiles}]
    if gone:
        conn.execute(sa.update(a).where(a.c.name.in_(gone)).values(declared=False, status="offline"))


def rows(conn: Connection) -> list[Any]:
    return conn.execute(sa.select(a).order_by(a.c.name)).all()


def row(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = sa.select(a).where(a.c.name == name)
    return conn.execute(query.with_for_update() if lock else query).one_or_none()


def set_status(conn: Connection, name: str, status: str) -> bool:
    return conn.execute(sa.update(a).where(a.c.name == name).values(status=status)).rowcount == 1


def mark_load(conn: Connection, name: str, busy: bool) -> None:
    """available <-> busy, never touching an offline agent."""
    new, old = ("busy", "available") if busy else ("available", "busy")
    conn.execute(sa.update(a).where(a.c.name == name, a.c.status == old).values(status=new))


def touch(conn: Connection, name: str, **values: Any) -> None:
    conn.execute(sa.update(a).where(a.c.name == name).values(last_active=utcnow(), **values))


def set_endpoint(conn: Connection, name: str, endpoint: str | None) -> None:
    conn.execute(sa.update(a).where(a.c.name == name).values(endpoint=endpoint))


# -- assignment ---------------------------------------------------------------------------

def active_counts(conn: Connection, names: list[str]) -> dict[str, int]:
    counts = dict(conn.execute(sa.select(t.c.agent, sa.func.count()).where(
        t.c.agent.in_(names), t.c.status.in_(ACTIVE)).group_by(t.c.agent)).all())
    return {name: counts.get(name, 0) for name in names}


def running_counts(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(sa.select(t.c.agent, sa.func.count()).where(
        t.c.agent.is_not(None), t.c.status == TaskStatus.RUNNING.value).group_by(t.c.agent)).all())


def waiting(conn: Connection, limit: int = 100, after: Any = None) -> list[Any]:
    """Queued tasks with no agent yet: priority order, then oldest; `after` is the last row
    of the previous page."""
    where = [t.c.status == TaskStatus.QUEUED.value, t.c.agent.is_(None)]
    if after is not None:
        where.append(sa.or_(t.c.priority < after.priority, sa.and_(t.c.priority == after.priority, sa.or_(
            t.c.created_at > after.created_at, sa.and_(t.c.created_at == after.created_at, t.c.id > after.id)))))
    return conn.execute(sa.select(t).where(*where)
                        .order_by(t.c.priority.desc(), t.c.created_at, t.c.id).limit(limit)).all()


def give(conn: Connection, task_id: str, agent: str, workspace: str) -> bool:
    """One conditional UPDATE: a task is given to one agent once, whoever tries."""
    return conn.execute(sa.update(t).where(t.c.id == task_id, t.c.agent.is_(None),
                                           t.c.status == TaskStatus.QUEUED.value)
                        .values(agent=agent, workspace=workspace, waiting_for=None, updated_at=utcnow())).rowcount == 1


def set_waiting_for(conn: Connection, task_id: str, reason: str) -> None:
    conn.execute(sa.update(t).where(t.c.id == task_id, t.c.agent.is_(None), sa.or_(
        t.c.waiting_for.is_(None), t.c.waiting_for != reason)).values(waiting_for=reason[:255]))


def tasks_of(conn: Connection, name: str, limit: int) -> list[Any]:
    return conn.execute(sa.select(t).where(t.c.agent == name).order_by(t.c.created_at.desc(), t.c.id.desc())
                        .limit(limit)).all()


# -- services -----------------------------------------------------------------------------

def services(conn: Connection, name: str | None = None, status: str | None = None) -> list[Any]:
    where = [c for c in (s.c.name == name if name else None, s.c.status == status if status else None)
             if c is not None]
    return conn.execute(sa.select(s).where(*where).order_by(s.c.name)).all()


def service(conn: Connection, name: str) -> Any:
    return conn.execute(sa.select(s).where(s.c.name == name)).one_or_none()


def claim_service(conn: Connection, name: str, owner: str, host: str, taken: tuple[str, ...]) -> bool:
    """The right to start `name`'s service: a row made, or one not in a `taken` status moved
    to `starting`; one launcher wins, on any node."""
    now = utcnow()
    # Its old port and URL go: the launcher picks the lowest free port again (its old one
    # included), and a port kept here would count as taken.
    values = dict(status="starting", owner=owner, host=host, pid=None, port=None, url=None, error=None, restarts=0,
                  started_at=now, stopped_at=None, updated_at=now)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(s).values(name=name, **values))
        return True
    except sa.exc.IntegrityError:
        pass
    return conn.execute(sa.update(s).where(s.c.name == name, s.c.status.not_in(taken))
                        .values(**values)).rowcount == 1


def update_service(conn: Connection, name: str, *, owner: str | None = None,
                   from_status: tuple[str, ...] | None = None, **values: Any) -> bool:
    where = [s.c.name == name]
    if owner is not None:
        where.append(s.c.owner == owner)
    if from_status is not None:
        where.append(s.c.status.in_(from_status))
    values["updated_at"] = utcnow()
    return conn.execute(sa.update(s).where(*where).values(**values)).rowcount == 1


def ports_in_use(conn: Connection, host: str, live: tuple[str, ...], but: str | None = None) -> set[int]:
    """The ports of this host's live services, `but` that agent's own (its port is its to take again)."""
    where = [s.c.host == host, s.c.status.in_(live), s.c.port.is_not(None)]
    if but is not None:
        where.append(s.c.name != but)
    return {p for (p,) in conn.execute(sa.select(s.c.port).where(*where)).all()}


def lock_agents(conn: Connection, names: list[str]) -> None:
    """A write to these agents' rows: deciders for the same agents take turns on it."""
    conn.execute(sa.update(a).where(a.c.name.in_(names)).values(name=a.c.name))
