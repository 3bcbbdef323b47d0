"""What people and other services do with tasks: create, read, change status, answer a
parked call, put and read files. The routes and the CLI both use it."""

from __future__ import annotations

import base64
import binascii
import uuid
from types import SimpleNamespace
from typing import Any, Callable

from sqlalchemy.engine import Engine

from app.audit.chain import AuditTrail
from app.channel import Channel
from app.confirmations.sealing import SEALED
from app.confirmations.tokens import Confirmations, ConfirmError
from app.store.tables import utcnow
from app.store.transactions import retried, writing
from app.tasks import repository
from app.tasks.folders import Folders
from app.tasks.journal import Journal
from app.tasks.schemas import Task, TaskConfirmation, TaskCreate, Update
from app.tasks.states import ALLOWED_CHANGES, CallStatus, Stage, TaskStatus, UpdateType

CHANNEL = Channel.TASK.value
DEFAULT_AGENT = "default"


class TaskError(Exception):
    """`status` is the HTTP status a route answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Tasks:
    def __init__(self, engine: Engine, confirmations: Confirmations, folders: Folders,
                 agents: Callable[[], list[str]], log) -> None:
        self.engine, self.confirmations, self.folders = engine, confirmations, folders
        self.agents = agents  # the agent names tasks may go to
        self.log = log
        self.listeners: list[Callable[[], None]] = []  # woken when a task becomes runnable
        # Agents: gives a new task to an agent (app.agents.assignment); set by the Runtime.
        self.assigner: Any = None

    # -- creating and reading ---------------------------------------------------------

    def create(self, body: TaskCreate, api_key_name: str | None = None) -> Task:
        """Stored unassigned, then given to an agent at once when one can take it; else it
        waits (`waiting_for` says why) until one frees up. `api_key_name`: the API_KEYS name
        it was asked with; its steps stay under that key's rules."""
        if body.agent is not None and body.agent not in self.agents():
            raise TaskError(400, f"no agent named {body.agent!r}; agents: {', '.join(self.agents())}")
        task_id, now = str(uuid.uuid4()), utcnow()
        journal = self._journal(task_id, None)
        journal.add(UpdateType.STATUS_CHANGE, "queued", status="queued", title=body.title)

        def transaction() -> None:
            with writing(self.engine) as conn:
                repository.insert(conn, id=task_id, title=body.title, description=body.description,
                                  complexity=body.complexity, priority=body.priority,
                                  status=TaskStatus.QUEUED.value, stage=Stage.NOT_STARTED.value,
                                  agent=None, workspace=None, requested_agent=body.agent,
                                  waiting_for="waiting for an agent", notify_email=body.notify_email,
                                  api_key_name=api_key_name, created_at=now, updated_at=now)
                journal.flush(conn)
        retried(transaction, lambda: None, f"task {task_id}: creating it", self.log)
        journal.trail.committed()
        stored = SimpleNamespace(id=task_id, complexity=body.complexity, requested_agent=body.agent,
                                 waiting_for="waiting for an agent")  # what placing it reads
        try:
            self.assigner.place(stored)
        except Exception:  # the workers try again before their next claim
            self.log.exception("task %s: assigning it failed; it stays queued", task_id)
        self._wake()
        return self.get(task_id)

    def get(self, task_id: str) -> Task:
        with self.engine.connect() as conn:
            row = repository.get(conn, task_id)
            if row is None:
                raise TaskError(404, f"no task {task_id}")
            pending = repository.pending_confirmations(conn, task_id, CHANNEL)
        return self._view(row, pending)

    def page(self, *, status: str | None, stage: str | None, agent: str | None, limit: int,
             cursor: str | None) -> tuple[list[Task], str | None]:
        with self.engine.connect() as conn:
            after = None
            if cursor:
                after = repository.get(conn, _uncursor(cursor))
                if after is None:
                    raise TaskError(400, "cursor is not one this service gave")
            rows = repository.page(conn, status=status, stage=stage, agent=agent, limit=limit, after=after)
            views = [self._view(row, repository.pending_confirmations(conn, row.id, CHANNEL)
                                if row.status == TaskStatus.AWAITING_CONFIRMATION else [])
                     for row in rows]
        return views, (_cursor(rows[-1].id) if len(rows) == limit else None)

    def updates(self, task_id: str, after: int | None, limit: int) -> list[Update]:
        with self.engine.connect() as conn:
            if repository.get(conn, task_id) is None:
                raise TaskError(404, f"no task {task_id}")
            rows = repository.updates(conn, task_id, after, limit)
        return [Update(id=r.id, task_id=r.task_id, agent=r.agent, update_type=r.update_type, content=r.content,
                       data=r.data, timestamp=r.created_at) for r in rows]

    def _view(self, row: Any, pending: list[Any]) -> Task:
        now = utcnow()
        confirmations = [TaskConfirmation(
            token=self.confirmations.signed_token(p.token_id, p.session_id, p.channel, p.tool_name, p.args_hash),
            tool_name=p.tool_name, args=_shown(p.args), preview=p.preview, expires_at=p.expires_at)
            for p in pending if p.expires_at > now]
        return Task(id=row.id, title=row.title, description=row.description, complexity=row.complexity,
                    priority=row.priority, status=row.status, stage=row.stage, stage_progress=row.stage_progress,
                    agent=row.agent, steps=row.steps, waiting_for=row.waiting_for, result=row.result,
                    error=row.error, workspace=row.workspace, confirmations=confirmations,
                    created_at=row.created_at, updated_at=row.updated_at, completed_at=row.completed_at)

    # -- a person steps in ---------------------------------------------------------------

    def change_status(self, task_id: str, to: TaskStatus, by: str | None = None) -> Task:
        allowed = ALLOWED_CHANGES[to]
        with self.engine.connect() as conn:
            row = repository.get(conn, task_id)
        if row is None:
            raise TaskError(404, f"no task {task_id}")
        if row.status not in allowed:
            raise TaskError(409, f"a {row.status} task cannot become {to.value}")
        values: dict[str, Any] = {"status": to.value}
        if to == TaskStatus.QUEUED and row.status == TaskStatus.FAILED:
            # A retry goes on from its last stored step, with fresh step and time budgets.
            values.update(error=None, budget_steps_from=row.steps, budget_ms_from=row.running_ms)
        if to == TaskStatus.QUEUED and repository_pending(self.engine, task_id):
            values["status"] = TaskStatus.AWAITING_CONFIRMATION.value  # resumed, still waiting
        journal = self._journal(task_id, row.agent)
        journal.add(UpdateType.STATUS_CHANGE, values["status"], status=values["status"], previous=row.status,
                    by=by)
        with writing(self.engine) as conn:
            if not repository.change(conn, task_id, from_status=allowed, **values):
                raise TaskError(409, "the task changed meanwhile; read it again")
            if to == TaskStatus.CANCELLED:  # its parked calls can no longer be confirmed anywhere
                dropped = repository.cancel_pending_confirmations(conn, task_id, CHANNEL)
                if dropped:
                    journal.add(UpdateType.CONFIRMATION, f"{dropped} waiting confirmation(s) dropped with the task",
                                event="dropped", count=dropped)
            journal.flush(conn)
        journal.trail.committed()
        self._wake()
        return self.get(task_id)

    def answer(self, task_id: str, token: str, action: str) -> Task:
        """`confirm` runs the parked call once (in the worker that takes the task next);
        `cancel` drops it and the model is told. 400 for a bad token, 409 when the task is
        not waiting for one."""
        with self.engine.connect() as conn:
            row = repository.get(conn, task_id)
        if row is None:
            raise TaskError(404, f"no task {task_id}")
        if row.status not in (TaskStatus.AWAITING_CONFIRMATION, TaskStatus.PAUSED):
            raise TaskError(409, f"the task is {row.status}, not waiting for a confirmation")
        journal = self._journal(task_id, row.agent)

        def transaction():
            with writing(self.engine) as conn:
                take = self.confirmations.consume if action == "confirm" else self.confirmations.cancel
                parked = take(conn, token, channel=CHANNEL, session_id=task_id)
                status = CallStatus.CONFIRMED if action == "confirm" else CallStatus.DECLINED
                # Kept as the parked call was: its secret arguments sealed, never in plain text.
                secret = frozenset(n for n in parked.args if parked.shown_args.get(n) != parked.args[n])
                stored = self.confirmations.sealer.seal(parked.args, secret)
                repository.insert_call(conn, task_id, parked.token_id, parked.tool_name, stored, status)
                journal.trail.add("confirmation_consumed" if action == "confirm" else "confirmation_cancelled",
                                  token_id=parked.token_id, tool=parked.tool_name, args=parked.shown_args)
                word = "confirmed" if action == "confirm" else "declined"
                journal.add(UpdateType.CONFIRMATION, f"{parked.tool_name}: {word}",
                            event="given" if action == "confirm" else "refused", tool=parked.tool_name)
                self._requeue_if_answered(conn, row, journal)
                journal.flush(conn)
        events = journal.trail.snapshot()
        try:
            retried(transaction, lambda: journal.trail.restore(events), f"task {task_id}: {action}", self.log)
        except ConfirmError as exc:
            self._refused(task_id, row.agent, action, exc.code)
            raise TaskError(400, _REFUSALS.get(exc.code, "this token is not valid for this task")) from None
        journal.trail.committed()
        self._wake()
        return self.get(task_id)

    def decided_elsewhere(self, conn, row: Any, approved: bool, by: str) -> None:
        """An operator decided on a task's parked call by its id (the CLI, the console), in
        the transaction that took it: recorded as `…/confirm` or `…/cancel` would."""
        task = repository.get(conn, row.session_id)
        if task is None:
            return
        status = CallStatus.CONFIRMED if approved else CallStatus.DECLINED
        repository.insert_call(conn, task.id, row.token_id, row.tool_name, row.args, status)  # still sealed
        word = "confirmed" if approved else "declined"
        journal = self._journal(task.id, task.agent)
        journal.add(UpdateType.CONFIRMATION, f"{row.tool_name}: {word} by {by}",
                    event="given" if approved else "refused", tool=row.tool_name, by=by)
        self._requeue_if_answered(conn, task, journal)
        journal.flush(conn)
        self._wake()

    def _requeue_if_answered(self, conn, task: Any, journal: Journal) -> None:
        still_waiting = [p for p in repository.pending_confirmations(conn, task.id, CHANNEL) if p.expires_at > utcnow()]
        if not still_waiting and task.status == TaskStatus.AWAITING_CONFIRMATION:
            repository.change(conn, task.id, from_status=frozenset({TaskStatus.AWAITING_CONFIRMATION}),
                              status=TaskStatus.QUEUED.value, lease_expires_at=None)
            journal.add(UpdateType.STATUS_CHANGE, "queued", status="queued")

    def _refused(self, task_id: str, agent: str | None, action: str, code: str) -> None:
        journal = self._journal(task_id, agent)
        journal.trail.add("confirmation_rejected", action=action, reason=code)
        journal.add(UpdateType.CONFIRMATION, f"a {action} was refused: {code}", event="rejected", reason=code)
        with writing(self.engine) as conn:
            journal.flush(conn)
        journal.trail.committed()

    # -- helpers ------------------------------------------------------------------------

    def _journal(self, task_id: str, agent: str | None) -> Journal:
        return Journal(task_id, agent, AuditTrail(str(uuid.uuid4()), CHANNEL, task_id))

    def _wake(self) -> None:
        for listener in self.listeners:
            listener()

    def folder_of(self, task_id: str):
        with self.engine.connect() as conn:
            row = repository.get(conn, task_id)
        if row is None:
            raise TaskError(404, f"no task {task_id}")
        if row.workspace is None:
            raise TaskError(409, "the task has no folder yet: it is not assigned to an agent")
        return self.folders.make_task_folder(row.workspace)


_REFUSALS = {
    "token_invalid": "this token is not valid: it was altered, never issued, or is for another task",
    "token_expired": "this token has expired",
    "token_used": "this token was already used",
    "token_cancelled": "this confirmation was cancelled",
    "token_other_session": "this token belongs to another task",
    "token_other_channel": "this token was not issued for a task",
}


def _shown(stored: dict) -> dict:
    """A stored call's arguments as a person may see them: secrets masked, the seal left out."""
    return {name: value for name, value in stored.items() if name != SEALED}


def repository_pending(engine: Engine, task_id: str) -> bool:
    with engine.connect() as conn:
        now = utcnow()
        return any(p.expires_at > now for p in repository.pending_confirmations(conn, task_id, CHANNEL))


def _cursor(task_id: str) -> str:
    return base64.urlsafe_b64encode(task_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise TaskError(400, "cursor is not one this service gave") from None
