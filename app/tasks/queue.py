"""The queue: the tasks table is also the queue. A claim takes the next task as a lease,
a heartbeat renews the leases of the tasks a worker is in, a release lets one go."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.store.tables import utcnow
from app.tasks.repository import change, get
from app.tasks.states import TaskStatus
from app.tasks.tables import tasks as t


def _claimable():
    now = sa.bindparam("now")
    free = sa.or_(t.c.lease_owner.is_(None), t.c.lease_expires_at < now)
    return sa.or_(
        # queued and not held by a worker still finishing its last step
        sa.and_(t.c.status == TaskStatus.QUEUED.value, free),
        # its worker died: the lease ran out
        sa.and_(t.c.status == TaskStatus.RUNNING.value, t.c.lease_expires_at < now),
        # waiting for a person past its confirmation's expiry: the model is told
        sa.and_(t.c.status == TaskStatus.AWAITING_CONFIRMATION.value, t.c.lease_expires_at < now))


# The agents' caps, read here without importing the agents domain (which builds on tasks).
_agents = sa.table("agents", sa.column("name"), sa.column("max_tasks"))
_CAP = sa.select(_agents.c.max_tasks).where(_agents.c.name == t.c.agent).scalar_subquery()


def _under_cap():
    """Its agent runs fewer tasks than its `max_tasks` (or has none): a task paused, retried
    or answered goes back to the queue with its agent, and waits there for room."""
    others = t.alias("others")
    running = sa.select(sa.func.count()).select_from(others).where(
        others.c.agent == t.c.agent, others.c.status == TaskStatus.RUNNING.value).scalar_subquery()
    return sa.or_(t.c.status == TaskStatus.RUNNING.value, _CAP.is_(None), running < _CAP)


CANDIDATES = 8  # how many claimable tasks a claim reads, best first, before trying to take one


def _claim_statements(only_agents: bool) -> tuple[sa.Select, sa.Select, sa.Update]:
    """Built once (a claim runs before every task): the best claimable tasks' ids, read
    without locks; one of them read again with its agent's cap, to be locked; the UPDATE
    that takes it, conditional on it still being claimable."""
    where = [_claimable(), t.c.agent.is_not(None)]
    if only_agents:
        where.append(t.c.agent.in_(sa.bindparam("agents", expanding=True)))
    pick = sa.select(t.c.id).where(*where, _under_cap()).order_by(
        t.c.priority.desc(), t.c.created_at, t.c.id).limit(CANDIDATES)
    one = sa.select(t, _CAP.label("agent_cap")).where(t.c.id == sa.bindparam("task_id"), *where, _under_cap())
    take = sa.update(t).where(t.c.id == sa.bindparam("task_id"), *where).values(
        status=TaskStatus.RUNNING.value, lease_owner=sa.bindparam("owner"), waiting_for=None,
        lease_expires_at=sa.bindparam("expires"), updated_at=sa.bindparam("now"))
    return pick, one, take


_CLAIM = {only: _claim_statements(only) for only in (False, True)}
_CLAIM_LOCKED = {only: (pick, one.with_for_update(skip_locked=True), take)
                 for only, (pick, one, take) in _CLAIM.items()}


def _room(conn: Connection, agent: str) -> bool:
    """Checked again under a write to the agent's row, so that two workers taking two of
    its tasks at once take turns and the second sees the first's. An agent with no cap
    (`default`, bound by the workers' slots) is not locked: its claims never wait on each other."""
    conn.execute(sa.update(_agents).where(_agents.c.name == agent).values(name=_agents.c.name))
    cap = conn.execute(sa.select(_agents.c.max_tasks).where(_agents.c.name == agent)).scalar()
    if cap is None:
        return True
    running = conn.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.agent == agent, t.c.status == TaskStatus.RUNNING.value)).scalar_one()
    return running < cap


class Updated:
    """A task row with the values just written to it."""

    def __init__(self, row: Any, values: dict) -> None:
        self._row, self._values = row, values

    def __getattr__(self, name: str) -> Any:
        return self._values[name] if name in self._values else getattr(self._row, name)


def claim(engine: Engine, owner: str, lease_sec: float, agents: list[str] | None = None) -> Any:
    """Take the next task, highest priority then oldest, as a lease: (the task as taken, its
    status before), or None when there is none.

    MySQL/MariaDB: the best few claimable tasks are read without locks, then taken one at a
    time by primary key with FOR UPDATE SKIP LOCKED, so a claim locks only the row it takes
    and concurrent workers each take a different row without waiting. (One locking query
    over the queue locked every queued row it sorted: a second worker claiming meanwhile
    skipped them all, found nothing and went idle until its next poll.) The row it locked
    is the row it took. SQLite has one writer: the UPDATE's own condition decides, and the
    row is read again after it."""
    now = utcnow()
    values = {"now": now, "owner": owner, "expires": now + timedelta(seconds=lease_sec)}
    if agents is not None:
        values["agents"] = list(agents)
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:
            # READ COMMITTED, for this transaction only: under REPEATABLE READ the unlocked
            # `pick` would fix a snapshot, and the agent's running tasks counted under its
            # row lock would then miss a claim committed since (two tasks for max_tasks 1);
            # on MariaDB 11.6.2+ (innodb_snapshot_isolation) the locking read of a task
            # claimed since would fail the whole claim instead.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        pick, one, take = (_CLAIM if sqlite else _CLAIM_LOCKED)[agents is not None]
        for task_id in conn.execute(pick, values).scalars().all():
            row = conn.execute(one, values | {"task_id": task_id}).first()
            if row is None:
                continue  # taken meanwhile, or being taken by another worker right now
            if row.status != TaskStatus.RUNNING.value and row.agent_cap is not None and not _room(conn, row.agent):
                continue  # another worker took its agent's last place a moment ago
            if not conn.execute(take, values | {"task_id": row.id}).rowcount:
                continue
            if sqlite:
                return get(conn, row.id), TaskStatus(row.status)
            taken = {"status": TaskStatus.RUNNING.value, "lease_owner": owner, "waiting_for": None,
                     "lease_expires_at": values["expires"], "updated_at": now}
            return Updated(row, taken), TaskStatus(row.status)
    return None


def renew(engine: Engine, owner: str, task_ids: list[str], lease_sec: float) -> int:
    """Renew the leases of the tasks this worker is running now (only those: a task whose
    step failed here must run out, so that another worker takes it over), whatever their
    status: one paused and resumed while its step runs here is queued again, and must not
    be taken by another worker before this one has stored that step and let it go."""
    if not task_ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(sa.update(t).where(t.c.id.in_(task_ids), t.c.lease_owner == owner)
                            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_sec))).rowcount


def release(conn: Connection, task_id: str, owner: str, **values: Any) -> bool:
    return change(conn, task_id, owner=owner, lease_owner=None, **values)
