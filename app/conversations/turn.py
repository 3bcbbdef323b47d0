"""One turn: a confirm/cancel, a direct command, or a plan from the model; execute; answer."""

from __future__ import annotations

import logging
import time

from app.audit.chain import AuditTrail
from app.audit.kinds import AuditKind as K
from app.confirmations.parsing import mask_tokens, parse_resolution, redact
from app.conversations import history as history_rows
from app.conversations.confirmation_replies import ConfirmationReplies
from app.conversations.deps import TurnDeps
from app.conversations.message import Message
from app.conversations.schemas import AgentResponse, Confirmation
from app.conversations.wording import (
    catalogue,
    confirmation_requests,
    problems,
    render_output,
)
from app.llm.base import ModelNotConfigured, ModelUnavailable
from app.masking import mask_secrets
from app.observability.logs import request_id_var
from app.planner.answerer import compose
from app.planner.commands import CommandSyntaxError, command_name, parse_command
from app.planner.planner import Usage
from app.planner.prompt import MAX_HISTORY_CHARS
from app.store.tables import utcnow
from app.store.transactions import retried, writing
from app.tools.declare import ToolContext
from app.tools.errors import ToolError
from app.tools.execution import ToolExecution
from app.tools.executor import Prepared
from app.tools.policy import Caller

log = logging.getLogger("llm_planner.turn")
MAX_FACT_CHARS = 500


class Turn(ConfirmationReplies):
    def __init__(self, deps: TurnDeps, msg: Message) -> None:
        self.deps, self.msg = deps, msg
        self.texts = deps.texts
        self.started, self.created_at = time.perf_counter(), utcnow()
        self.trail = AuditTrail(msg.request_id, msg.channel, msg.session_id)
        self.executions: list[ToolExecution] = []
        self.to_park: list[tuple[Prepared, str]] = []
        self.lines: list[str] = []
        self.error: str | None = None
        self.facts: dict | None = None  # set only when the plan changed them
        self.session_known = False  # the session row was seen this turn
        self.failures_worded = False  # a failure already explained in its own words
        self.usage = Usage()
        self.secrets: set[str] = set()  # secret argument values met this turn: never stored

    # -- the three ways a message is handled ------------------------------------------

    def run(self) -> AgentResponse:
        request_id_var.set(self.msg.request_id)
        self.trail.add(K.REQUEST, text=redact(self.msg.text))
        try:
            resolution = parse_resolution(self.msg.text)
            if resolution and resolution.everyday and not self._just_asked():
                resolution = None  # "yes" after no request of ours: an ordinary message
            if resolution:
                self._resolve(resolution)
            elif self.msg.text.lstrip().startswith("/"):
                self._command()
            else:
                self._plan()
        except Exception:
            log.exception("turn %s failed", self.msg.request_id)
            self.trail.add(K.INTERNAL_ERROR)
            self._fail(self.texts("internal_error", request_id=self.msg.request_id))
        self.deps.limits.spend_tokens(self.budget_key, self.usage.prompt_tokens + self.usage.output_tokens)
        return self._finish()

    @property
    def caller(self) -> Caller:
        """Whom the policy sees: every rule naming one of these must permit a tool."""
        msg = self.msg
        return Caller(channel=msg.channel, session=msg.session_id, key=msg.key_name, agent=msg.agent)

    @property
    def budget_key(self) -> str:
        return f"{self.msg.channel}:{self.msg.session_id}"

    def _plan(self) -> None:
        deps = self.deps
        if not deps.limits.tokens_left(self.budget_key):
            self.trail.add(K.BUDGET_EXCEEDED, budget="model_tokens")
            return self._fail(self.texts("budget_tokens", n=deps.settings.session_tokens_per_hour))
        with deps.engine.connect() as conn:
            facts, history = history_rows.load_context(conn, self.msg.channel, self.msg.session_id,
                                                        deps.settings.history_turns, MAX_HISTORY_CHARS)
        self.session_known = facts is not None
        facts = facts or {}
        memories = deps.memory.for_prompt(self.msg.channel, self.msg.session_id, self.msg.text) if deps.memory else []
        try:
            outcome = deps.planner.plan(self.msg.text, history, facts, self.trail, self.usage,
                                         tools=deps.tools.visible(self.caller), memories=memories)
        except ModelNotConfigured as exc:
            self.trail.add(K.MODEL_UNAVAILABLE, reason=str(exc))
            return self._fail(self.texts("model_not_configured", setting=exc.setting))
        except ModelUnavailable as exc:
            self.trail.add(K.MODEL_UNAVAILABLE, provider=exc.provider, url=exc.url, reason=exc.reason)
            return self._fail(self.texts("model_unavailable", provider=exc.provider, url=exc.url,
                                         error=exc.reason))
        if outcome.plan is None:
            return self._fail(self.texts("plan_invalid", attempts=outcome.attempts))
        plan = outcome.plan
        if plan.facts:
            self.facts = self._merge_facts(facts, plan.facts)
        self.lines.append(plan.reply)
        for call in plan.tool_calls:
            self._execute(call.tool, call.args)
        self._word_results()

    def _word_results(self) -> None:
        """Put what the read tools returned into the reply: chat users see only the text."""
        done = [e for e in self.executions if e.status == "success"]
        if not done:
            return
        if self.deps.settings.answerer_enabled:
            try:
                reply = compose(self.deps.answer_model, self.msg.text, self.executions)
                self.usage.add(reply)
                self.trail.add(K.MODEL_CALL, provider=self.deps.answer_model.provider, model=reply.model,
                               purpose="answer", latency_ms=reply.latency_ms, retries=reply.retries,
                               prompt_tokens=reply.prompt_tokens, output_tokens=reply.output_tokens,
                               raw_output=reply.text[:20000])
                if reply.text.strip():
                    self.lines = [reply.text.strip()]
                    return
            except (ModelUnavailable, ModelNotConfigured) as exc:
                self.trail.add(K.ANSWER_SKIPPED, reason=str(exc))
        for execution in done:
            rendered = render_output(execution.output, self.deps.tools.registry.get(execution.tool_name))
            self.lines.append(f"{execution.tool_name}:\n{rendered}")

    def _command(self) -> None:
        name = command_name(self.msg.text)
        if name == "task":
            return self._task_status()
        if name and name not in ("help", "tools") and self.deps.tools.registry.get(name) is None:
            # Named first: arguments of a command that does not exist are not worth reading.
            self.trail.add(K.COMMAND, name=name[:64], args={})
            self.lines.append(self.texts("unknown_command", name=name[:64]))
            self.failures_worded = True
            self._execute(name, {})
            return
        try:
            command = parse_command(self.msg.text)
        except CommandSyntaxError as exc:
            self.trail.add(K.COMMAND_REJECTED, error=str(exc))
            return self._fail(self.texts("bad_command", error=str(exc)))
        self.trail.add(K.COMMAND, name=command.name, args=command.args)
        if command.name == "help":
            self.lines.append(self.texts("help"))
        elif command.name == "tools":
            self.lines.append(catalogue(self.texts, self.deps.tools.visible(self.caller)))
        else:
            execution = self._execute(command.name, command.args)
            if execution is not None and execution.status == "success":
                self.lines.append(render_output(execution.output, self.deps.tools.registry.get(command.name)))

    def _task_status(self) -> None:
        """`/task ID`: where a task stands, read without the model."""
        task_id = self.msg.text.strip()[len("/task"):].strip()
        self.trail.add(K.COMMAND, name="task", args={"id": task_id[:64]})
        task = self.deps.task_desk.status(task_id) if self.deps.task_desk and task_id else None
        if task is None:
            self.failures_worded = True
            return self._fail(self.texts("task_unknown", id=task_id[:64] or "?"))
        self.lines.append(self.texts("task_status", title=task["title"], status=task["status"],
                                     stage=task["stage"], progress=task["stage_progress"], steps=task["steps"]))
        if task["error"]:
            self.lines.append(task["error"])
        if task["result"]:
            self.lines.append(task["result"]["summary"])

    # -- execution ----------------------------------------------------------------------

    def _execute(self, name, args, confirmed: bool = False) -> ToolExecution | None:
        """Refuse, run, or queue for parking; None means queued."""
        self._hide(self.deps.executor.secrets(name, args))
        prepared = self.deps.executor.prepare(name, args, self.caller)
        if isinstance(prepared, ToolExecution):
            return self._record(prepared)
        if not self.deps.limits.take_tool_call(self.budget_key):
            self.trail.add(K.BUDGET_EXCEEDED, budget="tool_calls")
            return self._record(ToolExecution(
                tool_name=prepared.tool.name, args=prepared.shown_args, status="blocked",
                error=self.texts("budget_tool_calls", n=self.deps.settings.session_tool_calls_per_hour)))
        ctx = self._context()
        if prepared.tool.tag == "write" and not confirmed:
            try:
                preview = self.deps.executor.preview(prepared, ctx)
            except ToolError as exc:
                return self._record(ToolExecution(tool_name=prepared.tool.name, args=prepared.shown_args,
                                                  status="error", error=str(exc)))
            self.to_park.append((prepared, preview))
            return None
        return self._record(self.deps.executor.run(prepared, ctx))

    def _record(self, execution: ToolExecution) -> ToolExecution:
        self.executions.append(execution)
        self.trail.add(K.TOOL_EXECUTION, tool=execution.tool_name, args=execution.args,
                       status=execution.status, output=execution.output, error=execution.error,
                       duration_ms=execution.duration_ms)
        return execution

    def _hide(self, values) -> None:
        values = [value for value in values if value]
        self.secrets.update(values)
        self.trail.hide(values)

    def _mask(self, data):
        return mask_secrets(data, self.secrets)

    def _context(self) -> ToolContext:
        deps = self.deps
        return ToolContext(workspace=deps.workspace, settings=deps.settings, records=deps.records,
                           request_id=self.msg.request_id, session_id=self.msg.session_id,
                           max_output_size=deps.settings.max_output_size,
                           language=self.texts.language,
                           tasks=deps.task_desk.for_key(self.msg.key_name) if deps.task_desk else None,
                           memories=deps.memory.of(self.msg.channel, self.msg.session_id, self.secrets)
                           if deps.memory else None)

    # -- the answer ---------------------------------------------------------------------

    def _fail(self, text: str) -> None:
        self.error = text
        self.lines = [text]

    def _merge_facts(self, facts: dict, new: dict) -> dict:
        merged = dict(facts)
        for key, value in new.items():
            key = str(key)[:64]
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value[:MAX_FACT_CHARS] if isinstance(value, str) else value
        return dict(list(merged.items())[-50:])

    def _finish(self) -> AgentResponse:
        # The turn's one write transaction, tried again from the same state when InnoDB gives
        # it up on a deadlock or a lock wait (nothing of it was kept), rather than answering
        # "internal error" for a turn whose tools may already have run.
        executions, events = list(self.executions), self.trail.snapshot()

        def undo() -> None:
            self.executions = list(executions)
            self.trail.restore(events)
        try:
            return retried(self._store, undo, f"turn {self.msg.request_id}: storing it", log)
        except Exception:
            return self._store_failed()

    def _store(self) -> AgentResponse:
        deps, msg = self.deps, self.msg
        confirmations: list[Confirmation] = []
        with writing(deps.engine) as conn:
            for prepared, preview in self.to_park:
                preview = self._mask(preview)
                # The real arguments: the token binds them; the secret ones are stored sealed.
                issued = deps.confirmations.issue(
                    conn, request_id=msg.request_id, channel=msg.channel, session_id=msg.session_id,
                    tool_name=prepared.tool.name, args=prepared.canonical_args, preview=preview,
                    secret_args=prepared.tool.secret_args, key_name=msg.key_name, agent=msg.agent)
                shown = self._mask(prepared.shown_args)
                confirmations.append(Confirmation(token=issued.token, tool_name=prepared.tool.name,
                                                  args=shown, preview=preview,
                                                  expires_at=issued.expires_at))
                self.executions.append(ToolExecution(
                    tool_name=prepared.tool.name, args=shown,
                    status="pending_confirmation", output={"preview": preview}))
                self.trail.add(K.CONFIRMATION_REQUESTED, token_id=issued.token_id,
                               tool=prepared.tool.name, args=shown, preview=preview,
                               expires_at=issued.expires_at.isoformat())
            response = self._response(confirmations)
            history_reply = response.reply
            for c in confirmations:  # the model never sees a live token
                history_reply = history_reply.replace(c.token, "[token]")
            history_reply = self._mask(mask_tokens(history_reply))
            self.trail.add(K.RESPONSE, status=response.status, reply=history_reply,
                           duration_ms=response.duration_ms, model_usage=vars(self.usage))
            # The turn's writes first, the audit chain last: the chain's lock is then held
            # only for its own statements and the commit.
            history_rows.save_turn(conn, channel=msg.channel, session_id=msg.session_id,
                                    request_id=msg.request_id, user_text=self._mask(redact(msg.text)),
                                    assistant_text=history_reply, facts=self._mask(self.facts),
                                    known=self.session_known)
            self.trail.flush(conn)
        self.trail.committed()
        log.info("turn finished", extra={"fields": {
            "channel": msg.channel, "session_id": msg.session_id, "status": response.status,
            "duration_ms": response.duration_ms, "model_calls": self.usage.calls,
            "tools": [f"{e.tool_name}:{e.status}" for e in response.tool_executions]}})
        return response

    def _store_failed(self) -> AgentResponse:
        log.exception("turn %s could not be stored", self.msg.request_id)
        self.trail.add(K.INTERNAL_ERROR, stage="store")
        self.trail.flush_now(self.deps.engine)
        self._fail(self.texts("internal_error", request_id=self.msg.request_id))
        self.executions = [e for e in self.executions if e.status != "pending_confirmation"]
        return self._response([])

    def _response(self, confirmations: list[Confirmation]) -> AgentResponse:
        failed = [e for e in self.executions if e.status in ("error", "blocked")]
        if self.error:
            status = "error"
        elif confirmations:
            status = "awaiting_confirmation"
        elif failed:
            status = "tool_error"
        else:
            status = "success"
        lines = list(self.lines)
        if not self.error and not self.failures_worded:
            lines += problems(self.texts, failed)
        # Masked before the confirmation requests join: a token must stay whole.
        lines = [self._mask(line) for line in lines if line]
        if not self.error:
            lines += confirmation_requests(self.texts, confirmations)
        error = self.error or (self.texts("tools_failed", n=len(failed)) if failed else None)
        executions = [e.model_copy(update={"args": self._mask(e.args), "output": self._mask(e.output),
                                           "error": self._mask(e.error)}) if self.secrets else e
                      for e in self.executions]
        return AgentResponse(
            request_id=self.msg.request_id, session_id=self.msg.session_id, status=status,
            reply="\n\n".join(line for line in lines if line), error=self._mask(error),
            tool_executions=executions, confirmations=confirmations,
            created_at=self.created_at, duration_ms=int((time.perf_counter() - self.started) * 1000))
