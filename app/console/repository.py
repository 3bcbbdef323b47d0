"""What the console reads: figures for the overview, conversations, a session's record,
pending approvals, the task board, failed sign-ins. Reads only; every change goes through
the domain that owns it (approvals, the task service, the audit trail)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.audit.kinds import AuditKind
from app.confirmations.repository import ConfirmationStatus
from app.store.tables import audit_events as ae
from app.store.tables import messages as m
from app.store.tables import pending_confirmations as pc
from app.store.tables import utcnow
from app.tasks.tables import task_updates as tu
from app.tasks.tables import tasks as t

CONSOLE_CHANNEL = "console"
ERROR_KINDS = (AuditKind.INTERNAL_ERROR, AuditKind.MODEL_UNAVAILABLE, AuditKind.PLAN_REJECTED,
               AuditKind.REPLY_FAILED)
SESSION_KINDS = (AuditKind.PLAN, AuditKind.PLAN_REJECTED, AuditKind.TOOL_EXECUTION,
                 AuditKind.CONFIRMATION_REQUESTED, AuditKind.CONFIRMATION_APPROVED,
                 AuditKind.CONFIRMATION_REJECTED, AuditKind.CONFIRMATION_CONSUMED,
                 AuditKind.CONFIRMATION_CANCELLED)


def overview(engine: Engine, since: datetime) -> dict[str, Any]:
    now = utcnow()
    with engine.connect() as conn:
        def count(*kinds) -> int:
            return conn.execute(sa.select(sa.func.count()).select_from(ae).where(
                ae.c.kind.in_([str(k) for k in kinds]), ae.c.created_at >= since)).scalar_one()
        pending = conn.execute(sa.select(sa.func.count()).select_from(pc).where(
            pc.c.status == ConfirmationStatus.PENDING.value, pc.c.expires_at > now)).scalar_one()
        by_status = dict(conn.execute(sa.select(t.c.status, sa.func.count()).group_by(t.c.status)).all())
        return {"turns": count(AuditKind.REQUEST), "errors": count(*ERROR_KINDS), "pending": pending,
                "tasks_by_status": by_status}


def running_by_agent(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.c.agent, sa.func.count()).where(
            t.c.status == "running", t.c.agent.is_not(None)).group_by(t.c.agent)).all())


def conversations(engine: Engine, limit: int = 300) -> list[Any]:
    """Sessions with messages, the most recently active first: channel, session_id,
    messages, last_at."""
    last = sa.func.max(m.c.created_at).label("last_at")
    with engine.connect() as conn:
        return conn.execute(sa.select(m.c.channel, m.c.session_id, sa.func.count().label("messages"), last)
                            .group_by(m.c.channel, m.c.session_id).order_by(last.desc()).limit(limit)).all()


def session_messages(engine: Engine, channel: str, session_id: str, limit: int = 500) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(m).where(m.c.channel == channel, m.c.session_id == session_id)
                            .order_by(m.c.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def session_events(engine: Engine, channel: str, session_id: str, limit: int = 500) -> list[Any]:
    """Its plans, tool executions and confirmations, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ae).where(ae.c.session_id == session_id, ae.c.channel == channel,
                                                ae.c.kind.in_([str(k) for k in SESSION_KINDS]))
                            .order_by(ae.c.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def pending_approvals(engine: Engine, limit: int = 500) -> list[Any]:
    """Every confirmation still waiting, of every channel and task, soonest to expire first."""
    with engine.connect() as conn:
        return conn.execute(sa.select(pc).where(pc.c.status == ConfirmationStatus.PENDING.value,
                                                pc.c.expires_at > utcnow())
                            .order_by(pc.c.expires_at, pc.c.id).limit(limit)).all()


def task_titles(engine: Engine, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.c.id, t.c.title).where(t.c.id.in_(ids))).all())


def board(engine: Engine, limit: int = 500) -> list[Any]:
    """The tasks a board shows: every unfinished one and the newest finished ones."""
    columns = (t.c.id, t.c.title, t.c.status, t.c.stage, t.c.stage_progress, t.c.agent, t.c.priority,
               t.c.updated_at)
    with engine.connect() as conn:
        return conn.execute(sa.select(*columns).order_by(t.c.priority.desc(), t.c.created_at.desc())
                            .limit(limit)).all()


def task_updates(engine: Engine, task_id: str, limit: int = 200) -> list[Any]:
    """The newest updates, newest first."""
    with engine.connect() as conn:
        return conn.execute(sa.select(tu).where(tu.c.task_id == task_id).order_by(tu.c.id.desc())
                            .limit(limit)).all()


def recent_sign_in_failures(engine: Engine, client: str, window_sec: int) -> list[datetime]:
    """When this address failed to sign in within the window, oldest first. Read from the
    audit trail, where each failure is recorded anyway: every worker sees the same count."""
    since = utcnow() - timedelta(seconds=window_sec)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ae.c.created_at, ae.c.data).where(
            ae.c.kind == AuditKind.AUTH_FAILED.value, ae.c.channel == CONSOLE_CHANNEL,
            ae.c.created_at >= since).order_by(ae.c.id)).all()
    return [row.created_at for row in rows if isinstance(row.data, dict) and row.data.get("client") == client]


def signed_out(engine: Engine, session: str) -> bool:
    """Whether the console sign-in `session` was ended by its operator (an audit event)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(ae.c.id).where(
            ae.c.session_id == session, ae.c.kind == AuditKind.CONSOLE_SIGNED_OUT.value).limit(1)).first() is not None
