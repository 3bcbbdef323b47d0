"""The part of a turn that answers a confirmation request: `confirm <token>`, a bare
`confirm`, `cancel`, and their refusals."""

from __future__ import annotations

import logging

from app.audit.kinds import AuditKind as K
from app.confirmations.parsing import Resolution
from app.confirmations.tokens import ConfirmError, Parked
from app.conversations.wording import render_output
from app.store.tables import utcnow
from app.store.transactions import retried, writing
from app.tools.execution import ToolExecution

log = logging.getLogger("llm_planner.turn")


class ConfirmationReplies:
    """Mixed into `Turn`: uses its deps, message, trail, texts and execution."""

    def _just_asked(self) -> bool:
        """Whether the session's latest turn asked for a confirmation still waiting."""
        deps, msg = self.deps, self.msg
        with deps.engine.connect() as conn:
            latest = deps.confirmations.latest_turn(conn, msg.channel, msg.session_id)
            waiting = deps.confirmations.waiting(conn, msg.channel, msg.session_id)
        return latest is not None and any(w.request_id == latest for w in waiting)

    def _resolve(self, resolution: Resolution) -> None:
        action = resolution.action
        try:
            parked = self._consume(action, resolution.token)
        except ConfirmError as exc:
            code, until = exc.code, exc.until
            if exc.guess:
                until = self._count_wrong_code() or None
                code = "token_locked" if until else code
            self.trail.add(K.CONFIRMATION_REJECTED, action=action, reason=code)
            return self._fail(self._refusal(code, until, exc))
        if action == "cancel":
            self.executions.append(ToolExecution(tool_name=parked.tool_name, args=parked.shown_args,
                                                 status="cancelled"))
            self.lines.append(self.texts("cancelled", tool=parked.tool_name))
            return
        # Checked again at run time: the allowlist or BLOCKED_PERMISSIONS may have changed.
        execution = self._execute(parked.tool_name, parked.args, confirmed=True)
        if execution is not None and execution.status == "success":
            self.lines.append(self.texts("confirmed_done", tool=parked.tool_name))
            self.lines.append(render_output(execution.output, self.deps.tools.registry.get(parked.tool_name)))
        elif execution is not None:
            self.lines.append(self.texts("confirmed_failed", tool=parked.tool_name, error=execution.error))
            self.failures_worded = True

    def _refusal(self, code: str, until, exc: ConfirmError) -> str:
        if code == "token_locked" and until is not None:
            minutes = max(1, -(-int((until - utcnow()).total_seconds()) // 60))
            return self.texts("token_locked_until", until=until.strftime("%H:%M UTC"), minutes=minutes)
        if code == "several_pending":
            listed = "\n".join(self.texts("pending_item", tool=w.tool_name, preview=w.preview, token=w.token)
                               for w in exc.pending)
            return self.texts("several_pending", n=len(exc.pending), pending=listed)
        return self.texts(code)

    def _count_wrong_code(self):
        """One more wrong short code in this session; until when it pauses confirmations, if it does."""
        deps, msg = self.deps, self.msg

        def transaction():
            with deps.engine.begin() as conn:
                return deps.confirmations.register_failure(conn, msg.channel, msg.session_id)
        return retried(transaction, lambda: None, f"turn {msg.request_id}: counting a wrong code", log)

    def _consume(self, action: str, token: str | None) -> Parked:
        """Take the parked call (or cancel it) and record that, in one transaction, tried
        again if InnoDB gives it up (the token is taken by a conditional update: once)."""
        deps, msg = self.deps, self.msg

        def transaction():
            with writing(deps.engine) as conn:
                if token is None:  # a bare word: the one confirmation waiting, claimed the same way
                    parked = deps.confirmations.resolve_only(conn, action, channel=msg.channel,
                                                             session_id=msg.session_id)
                elif action == "confirm":
                    parked = deps.confirmations.consume(conn, token, channel=msg.channel,
                                                         session_id=msg.session_id)
                else:
                    parked = deps.confirmations.cancel(conn, token, channel=msg.channel,
                                                        session_id=msg.session_id)
                self._hide(parked.secrets)
                # The record commits with the consumption, before anything runs.
                self.trail.add(K.CONFIRMATION_CONSUMED if action == "confirm" else K.CONFIRMATION_CANCELLED,
                               token_id=parked.token_id, tool=parked.tool_name, args=parked.shown_args)
                self.trail.flush(conn)
            self.trail.committed()
            return parked

        events = self.trail.snapshot()
        return retried(transaction, lambda: self.trail.restore(events),
                       f"turn {msg.request_id}: taking the confirmation", log)
