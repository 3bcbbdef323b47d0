"""A task's steps: plan → run the tools → store it all → plan again, until the model
finishes, a budget runs out, a write waits for a person, or a person stops it.

Exactly once: each step's plan, results, updates and audit events commit in one
transaction, conditional on this worker still holding the task's lease, under a unique
(task, step) key. A call a person confirmed is marked `running` (committed) before it runs
and `done` after, so a worker that dies in between leaves it `interrupted`, never re-run."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from app.audit.chain import AuditTrail
from app.audit.kinds import AuditKind as K
from app.channel import Channel
from app.llm.base import ModelNotConfigured, ModelUnavailable
from app.masking import mask_secrets
from app.planner.planner import Usage
from app.store.tables import utcnow
from app.store.transactions import writing
from app.tasks import queue, repository
from app.tasks.answered import (
    AnsweredCalls,
    record_execution,
    secret_values,
    task_caller,
    tool_context,
)
from app.tasks.deps import TaskDeps
from app.tasks.journal import Journal
from app.tasks.notify import notify_completion
from app.tasks.prompt import system_prompt, task_message
from app.tasks.states import Stage, TaskStatus, UpdateType
from app.tools.errors import ToolError
from app.tools.execution import ToolExecution
from app.tools.executor import Prepared
from app.tools.workspace import Workspace

log = logging.getLogger("llm_planner.tasks")
CHANNEL = Channel.TASK.value
RUNNING = frozenset({TaskStatus.RUNNING})


@dataclass
class StepOutcome:
    """What one step decided for the task."""
    status: TaskStatus = TaskStatus.RUNNING
    error: str | None = None
    stage: Stage | None = None
    progress: int | None = None
    result: dict | None = None
    parked: list[tuple[Prepared, str]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # values of secret arguments met in this step


class StepRunner:
    def __init__(self, deps: TaskDeps, owner: str) -> None:
        self.deps, self.owner = deps, owner
        self.answered = AnsweredCalls(deps)

    # -- a claimed task, until it stops -------------------------------------------------

    def run(self, task_id: str, stopping: Callable[[], bool], claimed: Any = None) -> None:
        """`claimed`: the row as the claim that took it read it (else it is read here)."""
        deps = self.deps
        task = claimed
        if task is None:
            with deps.engine.connect() as conn:
                task = repository.get(conn, task_id)
        if task is None or task.lease_owner != self.owner:
            return
        folder = deps.folders.make_task_folder(task.workspace)
        new = task.steps == 0  # nothing parked, nothing to read back yet
        running = (UpdateType.STATUS_CHANGE, "running", {"status": "running", "worker": self.owner})
        opening = [running] if new else []  # a new task's is written with its first step
        if not new:
            self.answered.note(task, running[0], running[1], **running[2])
            self.answered.settle(task, folder)
        history = [] if new else self.answered.history(task)  # read once; each stored step is appended
        try:
            while task is not None:
                if task.status != TaskStatus.RUNNING:
                    self._release(task_id)  # paused or cancelled by a person
                    return
                if stopping():
                    self._release(task_id, status=TaskStatus.QUEUED)  # a graceful stop: another goes on
                    return
                over = self._over_budget(task)
                if over:
                    self._end(task, TaskStatus.FAILED, error=over)
                    return
                task = self._step(task, folder, history, opening)  # as stored, or None: it stopped here
                opening = []
        finally:
            self._readme(task_id)

    # -- one step -----------------------------------------------------------------------

    def _step(self, task: Any, folder: Workspace, history: list[dict], opening: list) -> Any:
        """Plan, run, store. The task as the step left it, or None when it stopped here."""
        deps = self.deps
        started = time.monotonic()
        trail = AuditTrail(str(uuid.uuid4()), CHANNEL, task.id)
        journal = Journal(task.id, task.agent, trail)
        for update_type, content, data in opening:
            journal.add(update_type, content, **data)
        usage = Usage()
        outcome = StepOutcome()
        try:
            plan_outcome = deps.planner.plan_with(system_prompt(deps.executor.tools.visible(task_caller(task)), history),
                                                  task_message(task), trail, usage)
        except ModelNotConfigured as exc:
            return self._fail_step(task, journal, usage, started, f"no model is configured (set {exc.setting})")
        except ModelUnavailable as exc:
            return self._fail_step(task, journal, usage, started,
                                   f"the model stayed unreachable ({exc.provider} at {exc.url}): {exc.reason}")
        if plan_outcome.plan is None:
            return self._fail_step(task, journal, usage, started,
                                   f"the model did not produce a valid plan after {plan_outcome.attempts} attempt(s)")
        plan = plan_outcome.plan
        journal.add(UpdateType.STEP, plan.reply or f"step {task.steps + 1}", step=task.steps + 1,
                    calls=[c.tool for c in plan.tool_calls])
        results: list[dict] = []
        for n, call in enumerate(plan.tool_calls):
            if self._stopped_by_person(task.id):
                break  # paused or cancelled while it planned, or while the last tool ran: no tool of it runs
            execution = self._execute(task, folder, call.tool, call.args, outcome, trail)
            if execution is None:
                continue  # parked
            results.append(_result(execution))
            journal.add(UpdateType.TOOL_EXECUTION, f"{execution.tool_name}: {execution.status}", has_event=True,
                        tool=execution.tool_name, status=execution.status, error=execution.error)
            self._apply_task_tool(execution, outcome, journal)
            if outcome.status == TaskStatus.COMPLETE:
                break
        step = mask_secrets({"step": task.steps + 1, "kind": "step", "reply": plan.reply,
                             "calls": [c.model_dump() for c in plan.tool_calls], "results": results},
                            outcome.secrets)
        stored = self._store(task, step, outcome, journal, usage, started)
        if stored is not None:
            history.append(step)
        return stored

    def _execute(self, task: Any, folder: Workspace, name: Any, args: Any, outcome: StepOutcome,
                 trail: AuditTrail) -> ToolExecution | None:
        deps = self.deps
        prepared = deps.executor.prepare(name, args, task_caller(task))
        if isinstance(prepared, ToolExecution):
            return record_execution(trail, prepared)
        secrets = secret_values(prepared)
        outcome.secrets += secrets
        trail.hide(secrets)  # masked out of every event of this step before it is written
        ctx = tool_context(deps, task, folder, trail.request_id)
        if prepared.tool.tag == "write" and not prepared.tool.folder_only:
            try:
                outcome.parked.append((prepared, deps.executor.preview(prepared, ctx)))
            except ToolError as exc:
                return record_execution(trail, ToolExecution(tool_name=prepared.tool.name, args=prepared.canonical_args,
                                                         status="error", error=str(exc)))
            return None
        return record_execution(trail, deps.executor.run(prepared, ctx))

    @staticmethod
    def _apply_task_tool(execution: ToolExecution, outcome: StepOutcome, journal: Journal) -> None:
        if execution.status != "success":
            return
        if execution.tool_name == "update_task":
            out = execution.output
            outcome.stage, outcome.progress = Stage(out["stage"]), out["progress"]
            journal.add(UpdateType.PROGRESS_UPDATE, f"{out['stage']} {out['progress']} %",
                        stage=out["stage"], progress=out["progress"])
            if out["note"]:
                journal.add(UpdateType.NOTE, out["note"])
        elif execution.tool_name == "finish_task":
            out = execution.output
            outcome.status, outcome.stage, outcome.progress = TaskStatus.COMPLETE, Stage.COMPLETE, 100
            outcome.result = {"summary": out["summary"], "files": out["files"]}

    # -- storing ------------------------------------------------------------------------

    def _store(self, task: Any, step: dict, outcome: StepOutcome, journal: Journal, usage: Usage,
               started: float) -> Any:
        """The task as stored with this step (None when it no longer runs here)."""
        deps = self.deps
        notify = False  # this transaction completed a task that e-mails its summary
        values = self._counters(task, usage, started)
        if outcome.stage is not None:
            values.update(stage=outcome.stage.value, stage_progress=outcome.progress)
        if outcome.status == TaskStatus.COMPLETE:
            values.update(status=TaskStatus.COMPLETE.value, result=outcome.result, completed_at=utcnow(),
                          lease_owner=None)
        elif outcome.parked:
            values.update(status=TaskStatus.AWAITING_CONFIRMATION.value, lease_owner=None)
        keep_running = "lease_owner" not in values
        try:
            with writing(deps.engine) as conn:
                repository.insert_step(conn, task.id, step["step"], {"reply": step["reply"], "calls": step["calls"]},
                                       step["results"])
                # While this worker holds the lease only it writes the counters, so the row
                # it was given is current: one conditional UPDATE, no locked read, unless a
                # person paused or cancelled meanwhile (or the lease was lost).
                if keep_running:
                    stored = repository.step_stored(conn, task.id, self.owner, steps=values["steps"],
                                                    tokens=values["tokens"], running_ms=values["running_ms"],
                                                    stage=values.get("stage", task.stage),
                                                    stage_progress=values.get("stage_progress", task.stage_progress))
                else:
                    stored = repository.change(conn, task.id, owner=self.owner, from_status=RUNNING, **values)
                if stored:
                    if outcome.status == TaskStatus.COMPLETE:
                        journal.add(UpdateType.STATUS_CHANGE, "complete", status="complete")
                        notify = bool(task.notify_email)
                    elif outcome.parked:
                        expires = self._park(conn, task, outcome.parked, journal)
                        repository.change(conn, task.id, lease_expires_at=expires)
                        journal.add(UpdateType.STATUS_CHANGE, "awaiting_confirmation",
                                    status="awaiting_confirmation")
                else:
                    current = repository.get(conn, task.id, lock=True)
                    if current is None or current.lease_owner != self.owner:
                        raise _LostLease
                    # Paused or cancelled meanwhile: the step is kept, nothing is parked.
                    values = self._counters(current, usage, started) | {"lease_owner": None}
                    if outcome.stage is not None:
                        values.update(stage=outcome.stage.value, stage_progress=outcome.progress)
                    repository.change(conn, task.id, owner=self.owner, **values)
                    keep_running = False
                journal.flush(conn)
        except (_LostLease, repository.StepStored):
            log.warning("task %s: step %s was stored by another worker; this one stops", task.id, step["step"])
            return None
        journal.trail.committed()
        if notify:
            notify_completion(deps, task.id)  # after the commit: only the completing worker gets here
        if not keep_running:
            return None
        if outcome.stage is not None:
            self._readme(task.id)
        return queue.Updated(task, values)

    def _park(self, conn, task: Any, parked: list[tuple[Prepared, str]], journal: Journal):
        deps, latest = self.deps, None
        for prepared, preview in parked:
            issued = deps.confirmations.issue(conn, request_id=journal.trail.request_id, channel=CHANNEL,
                                              session_id=task.id, tool_name=prepared.tool.name,
                                              args=prepared.canonical_args, preview=preview,
                                              secret_args=prepared.tool.secret_args,
                                              key_name=task.api_key_name, agent=task.agent)
            journal.trail.add(K.CONFIRMATION_REQUESTED, token_id=issued.token_id, tool=prepared.tool.name,
                              args=prepared.canonical_args, preview=preview,
                              expires_at=issued.expires_at.isoformat())
            journal.add(UpdateType.CONFIRMATION, f"{prepared.tool.name} waits for a person's confirmation",
                        has_event=True, event="asked", tool=prepared.tool.name, args=prepared.canonical_args, preview=preview)
            latest = issued.expires_at if latest is None else max(latest, issued.expires_at)
        return latest

    def _counters(self, current: Any, usage: Usage, started: float) -> dict:
        return {"steps": current.steps + 1, "tokens": current.tokens + usage.prompt_tokens + usage.output_tokens,
                "running_ms": current.running_ms + int((time.monotonic() - started) * 1000)}

    def _fail_step(self, task: Any, journal: Journal, usage: Usage, started: float, error: str) -> None:
        """A step that could not plan: the task fails, and its model calls stay on record."""
        self._end(task, TaskStatus.FAILED, error=error, journal=journal,
                  counters=self._counters(task, usage, started) | {"steps": task.steps})

    def _end(self, task: Any, status: TaskStatus, *, error: str | None = None, journal: Journal | None = None,
             counters: dict | None = None) -> None:
        journal = journal or Journal(task.id, task.agent, AuditTrail(str(uuid.uuid4()), CHANNEL, task.id))
        journal.add(UpdateType.STATUS_CHANGE, f"{status.value}: {error}" if error else status.value,
                    status=status.value, error=error)
        with writing(self.deps.engine) as conn:
            if repository.change(conn, task.id, owner=self.owner,
                                 from_status=RUNNING, status=status.value,
                                 error=error, lease_owner=None, **(counters or {})):
                journal.flush(conn)
        journal.trail.committed()

    def _release(self, task_id: str, status: TaskStatus | None = None) -> None:
        with self.deps.engine.begin() as conn:
            values = {"status": status.value} if status else {}
            queue.release(conn, task_id, self.owner, **values)

    # -- what the model is shown -------------------------------------------------------

    def _stopped_by_person(self, task_id: str) -> bool:
        with self.deps.engine.connect() as conn:
            return repository.status(conn, task_id) != TaskStatus.RUNNING

    def _over_budget(self, task: Any) -> str | None:
        s = self.deps.settings
        if task.steps - task.budget_steps_from >= s.task_max_steps:
            return f"the step budget ran out (TASK_MAX_STEPS={s.task_max_steps})"
        if task.running_ms - task.budget_ms_from >= s.task_max_seconds * 1000:
            return f"the time budget ran out (TASK_MAX_SECONDS={s.task_max_seconds})"
        if task.tokens >= s.task_max_tokens:
            return f"the token budget ran out (TASK_MAX_TOKENS={s.task_max_tokens})"
        return None

    def _readme(self, task_id: str) -> None:
        try:
            with self.deps.engine.connect() as conn:
                task, updates = repository.for_readme(conn, task_id, 200)
            if task is not None:
                self.deps.folders.write_readme(task.workspace, task, updates)
        except OSError as exc:  # the README is a convenience: the database holds the truth
            log.warning("task %s: README.md not written: %s", task_id, exc)


class _LostLease(Exception):
    pass


def _result(execution: ToolExecution) -> dict:
    return {"tool": execution.tool_name, "args": execution.args, "status": execution.status,
            "output": execution.output, "error": execution.error}
