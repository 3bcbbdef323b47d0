"""What happens to a task's parked calls once a person answered: a confirmed call runs once
(marked `running`, committed, before it runs, so a worker that dies meanwhile leaves it
`interrupted`, never run again); a declined or expired one is recorded for the model."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from app.audit.chain import AuditTrail
from app.audit.kinds import AuditKind as K
from app.channel import Channel
from app.confirmations.sealing import SEALED, SealBroken
from app.store.tables import utcnow
from app.store.transactions import writing
from app.tasks import repository
from app.tasks.deps import TaskDeps
from app.tasks.journal import Journal
from app.tasks.states import CallStatus, UpdateType
from app.tools.declare import ToolContext
from app.tools.execution import ToolExecution
from app.tools.executor import Prepared
from app.tools.policy import DEFAULT_AGENT, Caller
from app.tools.workspace import Workspace

CHANNEL = Channel.TASK.value
HISTORY_STEPS = 30  # how many stored steps are read back to build the prompt


def record_execution(trail: AuditTrail, execution: ToolExecution) -> ToolExecution:
    trail.add(K.TOOL_EXECUTION, tool=execution.tool_name, args=execution.args, status=execution.status,
              output=execution.output, error=execution.error, duration_ms=execution.duration_ms)
    return execution


def task_caller(task: Any) -> Caller:
    """Whom the policy sees in a task's step: the task channel, the task (its id as session),
    the API_KEYS name it was created with, its agent."""
    return Caller(channel=CHANNEL, session=task.id, key=task.api_key_name, agent=task.agent or DEFAULT_AGENT)


def tool_context(deps: TaskDeps, task: Any, folder: Workspace, request_id: str) -> ToolContext:
    return ToolContext(workspace=folder, settings=deps.settings, records=deps.records, request_id=request_id,
                       session_id=task.id, max_output_size=deps.settings.max_output_size,
                       language=deps.settings.reply_language)


class AnsweredCalls:
    def __init__(self, deps: TaskDeps) -> None:
        self.deps = deps

    def settle(self, task: Any, folder: Workspace) -> None:
        """Run each confirmed call once; report the ones a dead worker left running as
        interrupted; tell the model of confirmations nobody answered in time."""
        deps = self.deps
        with deps.engine.connect() as conn:
            open_calls = repository.calls(conn, task.id, CallStatus.RUNNING, CallStatus.CONFIRMED)
            pending = repository.pending_confirmations(conn, task.id, CHANNEL)
        left_running = [c for c in open_calls if c.status == CallStatus.RUNNING]
        confirmed = [c for c in open_calls if c.status == CallStatus.CONFIRMED]
        for call in left_running:
            self._move(task, call, CallStatus.RUNNING, CallStatus.INTERRUPTED,
                         error="the worker running it stopped; it may or may not have run, and is not run again")
        now = utcnow()
        for row in pending:
            if row.expires_at <= now:
                with deps.engine.begin() as conn:
                    added = insert_call_once(conn, task.id, row, CallStatus.DECLINED, error="expired")
                if added:
                    self.note(task, UpdateType.CONFIRMATION, f"{row.tool_name}: nobody answered before it expired",
                                      event="expired", tool=row.tool_name)
        for call in confirmed:
            with deps.engine.begin() as conn:
                if not repository.move_call(conn, call.id, CallStatus.CONFIRMED, CallStatus.RUNNING):
                    continue  # another worker took it
            trail = AuditTrail(str(uuid.uuid4()), CHANNEL, task.id)
            try:
                args, _ = deps.confirmations.sealer.open(call.args)
            except SealBroken:
                args = None  # altered at rest: refused below, nothing runs
            prepared = deps.executor.prepare(call.tool_name, args, task_caller(task))
            if isinstance(prepared, ToolExecution):
                execution = prepared  # refused now: the allowlist or the permissions changed
            else:
                trail.hide(secret_values(prepared))
                execution = deps.executor.run(prepared, tool_context(deps, task, folder, trail.request_id))
            record_execution(trail, execution)
            self._move(task, call, CallStatus.RUNNING, CallStatus.DONE, output=execution.output, error=execution.error,
                         trail=trail, status=execution.status)

    def _move(self, task: Any, call: Any, from_status: CallStatus, to_status: CallStatus, *,
                output: Any = None, error: str | None = None, trail: AuditTrail | None = None,
                status: str | None = None) -> None:
        trail = trail or AuditTrail(str(uuid.uuid4()), CHANNEL, task.id)
        journal = Journal(task.id, task.agent, trail)
        word = status or to_status.value
        journal.add(UpdateType.TOOL_EXECUTION, f"{call.tool_name}: {word}" + (f" ({error})" if error else ""),
                    tool=call.tool_name, status=word, error=error, confirmed=True)
        with writing(self.deps.engine) as conn:
            if repository.move_call(conn, call.id, from_status, to_status, output=output, error=error):
                journal.flush(conn)
        trail.committed()

    def note(self, task: Any, update_type: UpdateType, content: str, **data: Any) -> None:
        trail = AuditTrail(str(uuid.uuid4()), CHANNEL, task.id)
        journal = Journal(task.id, task.agent, trail)
        journal.add(update_type, content, **data)
        with writing(self.deps.engine) as conn:
            journal.flush(conn)
        trail.committed()

    def history(self, task: Any) -> list[dict]:
        """What the steps so far did and returned, with the calls a person answered, oldest first."""
        with self.deps.engine.connect() as conn:
            steps = repository.steps(conn, task.id, HISTORY_STEPS)
            answered = repository.answered_calls(conn, task.id)
        events = [(row.created_at, {"step": row.step, "kind": "step", **row.plan, "results": row.results})
                  for row in steps]
        events += [(row.updated_at, {"kind": "a person answered a confirmation", "tool": row.tool_name,
                                     "args": {k: v for k, v in row.args.items() if k != SEALED},
                                     "status": _call_words(row), "output": row.output,
                                     "error": row.error}) for row in answered]
        return [event for _, event in sorted(events, key=lambda pair: pair[0])]


def secret_values(prepared: Prepared) -> list[str]:
    return [str(prepared.canonical_args[name]) for name in prepared.tool.secret_args
            if prepared.canonical_args.get(name) is not None]


def _call_words(row: Any) -> str:
    if row.status == CallStatus.DECLINED:
        return "expired: nobody answered (not run)" if row.error == "expired" else "declined by the person (not run)"
    return {"done": "confirmed and run", "interrupted": "confirmed, but interrupted: it may not have run"
            }.get(row.status, row.status)


def insert_call_once(conn, task_id: str, row: Any, status: CallStatus, error: str | None = None) -> bool:
    try:
        with conn.begin_nested():
            repository.insert_call(conn, task_id, row.token_id, row.tool_name, row.args, status, error=error)
        return True
    except sa.exc.IntegrityError:
        return False
