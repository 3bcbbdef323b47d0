"""Operators' decisions on parked calls, by the confirmation's id (`pending_confirmations.id`,
the number `confirmations list`, the console and MCP show): an approval takes the call through the
same conditional UPDATE as `confirm <token>` (`repository.claim`), so it runs once however
many approve it at once; a rejection drops it. And the wrong-code lock, cleared."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.audit.chain import AuditTrail, record
from app.audit.kinds import AuditKind
from app.channel import Channel
from app.confirmations import repository
from app.confirmations.repository import ConfirmationStatus
from app.confirmations.sealing import SealBroken, Sealer
from app.confirmations.tokens import args_hash
from app.store.tables import pending_confirmations as pc
from app.store.tables import sessions, utcnow
from app.store.transactions import retried, writing
from app.tools.declare import ToolContext
from app.tools.execution import ToolExecution
from app.tools.policy import DEFAULT_AGENT, Caller

log = logging.getLogger("llm_planner.confirmations")


class NotPending(Exception):
    """The confirmation is unknown, or no longer waiting; the message says why (and by whom)."""


@dataclass(frozen=True)
class Decided:
    request_id: str
    row: Any  # the pending_confirmations row, as it was while pending


def pending(engine: Engine, session_id: str | None = None, everything: bool = False,
            limit: int = 200) -> list[Any]:
    """Those still waiting (not expired), oldest first; `everything`: the newest `limit` of
    every state."""
    conditions = [pc.c.session_id == session_id] if session_id else []
    if not everything:
        conditions += [pc.c.status == ConfirmationStatus.PENDING.value, pc.c.expires_at > utcnow()]
    query = sa.select(pc).where(*conditions)
    with engine.connect() as conn:
        if everything:
            return list(reversed(conn.execute(query.order_by(pc.c.id.desc()).limit(limit)).all()))
        return conn.execute(query.order_by(pc.c.id).limit(limit)).all()


def approve(runtime, confirmation_id: int, by: str, reason: str | None = None
            ) -> tuple[Decided, ToolExecution | None]:
    """Take the parked call (once) and run it through the executor, as `confirm <token>`
    would in its session; both on record. A task's call is not run here: it is recorded for
    the task, whose worker runs it in the task's folder before it plans again (None)."""
    deps = runtime.conversations.deps
    sealer = deps.confirmations.sealer
    decided = _decide(runtime.engine, sealer, confirmation_id, by, ConfirmationStatus.CONSUMED, reason,
                      also=runtime.tasks.decided_elsewhere)
    row = decided.row
    if row.channel == Channel.TASK:
        return decided, None
    args, shown = sealer.open(row.args)
    # Checked again at run time: the allowlist or BLOCKED_PERMISSIONS may have changed.
    caller = Caller(channel=row.channel, session=row.session_id, key=row.api_key_name,
                    agent=row.agent or DEFAULT_AGENT)
    prepared = deps.executor.prepare(row.tool_name, args, caller)
    if isinstance(prepared, ToolExecution):
        execution = prepared
    else:
        ctx = ToolContext(workspace=deps.workspace, settings=deps.settings, records=deps.records,
                          request_id=decided.request_id, session_id=row.session_id,
                          max_output_size=deps.settings.max_output_size, language=deps.texts.language,
                          tasks=deps.task_desk)
        execution = deps.executor.run(prepared, ctx)
    trail = AuditTrail(decided.request_id, row.channel, row.session_id)
    trail.hide(str(args[name]) for name in args if shown.get(name) != args[name])
    trail.add(AuditKind.TOOL_EXECUTION, tool=execution.tool_name, args=execution.args, status=execution.status,
              output=execution.output, error=execution.error, duration_ms=execution.duration_ms,
              approved_by=by)
    trail.flush_now(runtime.engine)
    return decided, execution


def reject(runtime, confirmation_id: int, by: str, reason: str | None = None) -> Decided:
    return _decide(runtime.engine, runtime.conversations.deps.confirmations.sealer, confirmation_id, by,
                   ConfirmationStatus.CANCELLED, reason, also=runtime.tasks.decided_elsewhere)


def _decide(engine: Engine, sealer: Sealer, confirmation_id: int, by: str, status: ConfirmationStatus,
            reason: str | None, also: Callable[[Connection, Any, bool, str], None] | None = None) -> Decided:
    """`also(conn, row, approved, by)`: what a task records of the decision, in the same
    transaction as the claim."""
    approving = status == ConfirmationStatus.CONSUMED
    with engine.connect() as conn:
        row = conn.execute(sa.select(pc).where(pc.c.id == confirmation_id)).one_or_none()
    if row is None:
        raise NotPending(f"no confirmation has the id {confirmation_id}")
    try:
        real, shown = sealer.open(row.args)
    except SealBroken:
        real, shown = None, {}
    if real is None or args_hash(row.tool_name, real) != row.args_hash:
        raise NotPending(f"confirmation {confirmation_id} was altered after it was issued; nothing was run")
    request_id = str(uuid.uuid4())
    trail = AuditTrail(request_id, row.channel, row.session_id)
    decision = {"approved_by": by} if approving else {"rejected_by": by}
    trail.add(AuditKind.CONFIRMATION_APPROVED if approving else AuditKind.CONFIRMATION_REJECTED,
              confirmation_id=row.id, token_id=row.token_id, tool=row.tool_name, args=shown, **decision,
              **({"reason": reason} if reason else {}))

    def transaction() -> bool:
        with writing(engine) as conn:
            if not repository.claim(conn, token_id=row.token_id, channel=row.channel,
                                    session_id=row.session_id, tool_name=row.tool_name,
                                    args_hash=row.args_hash, new_status=status, now=utcnow()):
                return False
            conn.execute(sa.update(pc).where(pc.c.token_id == row.token_id).values(resolved_by=by[:128]))
            if also is not None and row.channel == Channel.TASK:
                also(conn, row, approving, by)
            trail.flush(conn)  # commits with the decision, before anything runs
        trail.committed()
        return True

    events = trail.snapshot()
    if not retried(transaction, lambda: trail.restore(events), f"deciding confirmation {row.id}", log):
        with engine.connect() as conn:  # read after the winner committed: who took it
            raise NotPending(_why_not(conn, row, utcnow()))
    return Decided(request_id, row)


def _why_not(conn: Connection, row: Any, now) -> str:
    confirmation_id, row = row.id, repository.by_token_id(conn, row.token_id)
    who = row.resolved_by or f"the person in session {row.session_id!r} on {row.channel}"
    when = row.resolved_at.isoformat(timespec="seconds") if row.resolved_at else "earlier"
    if row.status == ConfirmationStatus.CONSUMED:
        return f"confirmation {confirmation_id} was already taken by {who} at {when}; nothing was run again"
    if row.status == ConfirmationStatus.CANCELLED:
        return f"confirmation {confirmation_id} was already rejected by {who} at {when}; nothing was run"
    if row.expires_at <= now:
        return f"confirmation {confirmation_id} expired at {row.expires_at.isoformat(timespec='seconds')}; nothing was run"
    return f"confirmation {confirmation_id} is not pending; nothing was run"


def unlock_session(engine: Engine, session_id: str, channel: str | None, by: str) -> int:
    """Clear the wrong-code lock (and count) of that session, on one channel or all; how many
    sessions were locked or counting."""
    where = [sessions.c.session_id == session_id]
    if channel:
        where.append(sessions.c.channel == channel)
    with engine.begin() as conn:
        touched = conn.execute(sa.update(sessions).where(
            *where, sa.or_(sessions.c.confirm_failures > 0, sessions.c.confirm_locked_until.is_not(None)))
            .values(confirm_failures=0, confirm_locked_until=None)).rowcount
    if touched:
        record(engine, AuditKind.SESSION_UNLOCKED, channel=channel, session_id=session_id, unlocked_by=by,
               sessions=touched)
    return touched
