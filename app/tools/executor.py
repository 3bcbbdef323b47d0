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
from app.validation_errors import error_lines

log = logging.getLogger("llm_planner.executor")


@dataclass(frozen=True)
class Prepared:
    tool: Tool
    args: BaseModel
    canonical_args: dict[str, Any]  # what is stored, hashed into a token, and shown


def describe_validation(exc: ValidationError) -> str:
    return "invalid arguments: " + "; ".join(error_lines(exc, root="args"))


class Executor:
    def __init__(self, tools: ToolFilter, max_timeout: float, max_output: int, workers: int = 16,
                 waiting: Callable[[], AbstractContextManager] = nullcontext) -> None:
        """`waiting()`: entered while the caller waits for a tool (it gives up its turn slot)."""
        self.tools = tools
        self.max_timeout = max_timeout
        self.max_output = max_output
        self.waiting = waiting
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tool")

    def prepare(self, name: Any, raw_args: Any, channel: str) -> Prepared | ToolExecution:
        shown = raw_args if isinstance(raw_args, dict) else {}
        tool = self.tools.registry.get(name) if isinstance(name, str) else None
        if tool is None:
            return ToolExecution(tool_name=str(name)[:64], args=shown, status="blocked",
                                 error=f"tool {str(name)[:64]!r} is not allowed (not in the allowlist)")
        refusal = self.tools.refusal(tool, channel)
        if refusal:
            return ToolExecution(tool_name=tool.name, args=shown, status="blocked", error=refusal)
        if not isinstance(raw_args, dict):
            return ToolExecution(tool_name=tool.name, status="error", error="invalid arguments: args must be an object")
        try:
            args = tool.args_model.model_validate(raw_args)
        except ValidationError as exc:
            return ToolExecution(tool_name=tool.name, args=shown, status="error",
                                 error=describe_validation(exc))
        return Prepared(tool, args, args.model_dump(mode="json"))

    def preview(self, prepared: Prepared, ctx: ToolContext) -> str:
        ctx.timeout = min(prepared.tool.timeout or self.max_timeout, self.max_timeout)
        if prepared.tool.preview is None:
            return f"{prepared.tool.name} {json.dumps(prepared.canonical_args, ensure_ascii=False)}"
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
            status, error = "error", f"timed out after {timeout:g}s"
        except ToolError as exc:
            status, error = "error", str(exc)
        except Exception as exc:
            log.exception("tool %s raised", tool.name)
            status, error = "error", f"internal error in {tool.name} ({type(exc).__name__})"
        return ToolExecution(
            tool_name=tool.name, args=prepared.canonical_args, status=status,
            duration_ms=int((time.perf_counter() - started) * 1000),
            output=self._cap(output), error=error)

    def _cap(self, output: Any) -> Any:
        text = json.dumps(output, default=str, ensure_ascii=False)
        if len(text) <= self.max_output:
            return json.loads(text)
        return {"truncated": True, "original_size": len(text), "text": text[: self.max_output]}
