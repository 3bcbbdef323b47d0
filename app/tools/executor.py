"""allowlist → arguments → permissions → run (or hand back for parking), with limits."""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from app.tools.declare import Tool, ToolContext
from app.tools.errors import ToolError
from app.tools.execution import ToolExecution
from app.tools.filter import ToolFilter
from app.tools.messages import ToolTexts
from app.tools.policy import Caller

log = logging.getLogger("llm_planner.executor")


@dataclass(frozen=True)
class Prepared:
    tool: Tool
    args: BaseModel
    canonical_args: dict[str, Any]  # the real arguments: hashed into a token, parked sealed

    @property
    def shown_args(self) -> dict[str, Any]:
        """What is stored, audited and shown: secret arguments masked."""
        return self.tool.masked(self.canonical_args)


class Executor:
    def __init__(self, tools: ToolFilter, max_timeout: float, max_output: int, workers: int = 16,
                 waiting: Callable[[], AbstractContextManager] = nullcontext, language: str = "en") -> None:
        """`waiting()`: entered while the caller waits for a tool (it gives up its turn slot)."""
        self.tools = tools
        self.texts = ToolTexts(language)
        self.max_timeout = max_timeout
        self.max_output = max_output
        self.waiting = waiting
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tool")

    def secrets(self, name: Any, raw_args: Any) -> list[str]:
        """The values a call passes in its tool's secret arguments, valid or not."""
        tool = self.tools.registry.get(name) if isinstance(name, str) else None
        return tool.secret_values(raw_args) if tool is not None and isinstance(raw_args, dict) else []

    def prepare(self, name: Any, raw_args: Any, who: str | Caller) -> Prepared | ToolExecution:
        """`who`: a channel name, or the whole Caller (session, key name, agent) the policy sees."""
        shown = raw_args if isinstance(raw_args, dict) else {}
        tool = self.tools.registry.get(name) if isinstance(name, str) else None
        if tool is None:
            return ToolExecution(tool_name=str(name)[:64], args=shown, status="blocked",
                                 error=self.texts("not_allowlisted", name=str(name)[:64]))
        shown = tool.masked(shown)
        refusal = self.tools.refusal(tool, who)
        if refusal:
            return ToolExecution(tool_name=tool.name, args=shown, status="blocked", error=refusal)
        if not isinstance(raw_args, dict):
            return ToolExecution(tool_name=tool.name, status="error",
                                 error=self.texts("invalid_arguments", details=self.texts("args_not_object")))
        try:
            args = tool.args_model.model_validate(raw_args)
        except ValidationError as exc:
            return ToolExecution(tool_name=tool.name, args=shown, status="error",
                                 error=self.texts.validation(exc))
        return Prepared(tool, args, args.model_dump(mode="json"))

    def preview(self, prepared: Prepared, ctx: ToolContext) -> str:
        ctx.timeout = min(prepared.tool.timeout or self.max_timeout, self.max_timeout)
        if prepared.tool.preview is None:
            return self.texts("default_preview", tool=prepared.tool.name,
                              args=json.dumps(prepared.shown_args, ensure_ascii=False))
        return prepared.tool.preview(prepared.args, ctx)

    def run(self, prepared: Prepared, ctx: ToolContext) -> ToolExecution:
        tool = prepared.tool
        timeout = min(tool.timeout or self.max_timeout, self.max_timeout)
        started = time.perf_counter()
        status, output, error = "success", None, None
        # A thread cannot be killed: a tool past its timeout is abandoned and reported, so
        # tools that start processes must enforce their own limits as well.
        ctx.timeout = timeout
        future = self._pool.submit(tool.func, prepared.args, ctx)
        try:
            with self.waiting():
                output = future.result(timeout=timeout)
        except FutureTimeout:
            status, error = "error", self.texts("timed_out", seconds=timeout)
        except ToolError as exc:
            status, error = "error", str(exc)
        except Exception as exc:
            log.exception("tool %s raised", tool.name)
            status, error = "error", self.texts("internal_error", tool=tool.name, kind=type(exc).__name__)
        return ToolExecution(
            tool_name=tool.name, args=prepared.shown_args, status=status,
            duration_ms=int((time.perf_counter() - started) * 1000),
            output=self._cap(output), error=error)

    def _cap(self, output: Any) -> Any:
        text = json.dumps(output, default=str, ensure_ascii=False)
        if len(text) <= self.max_output:
            return json.loads(text)
        return {"truncated": True, "original_size": len(text), "text": text[: self.max_output]}
