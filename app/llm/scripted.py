"""A model that answers from a script: for tests, evals and benchmarks, never the network."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

from app.llm.base import ModelReply

Step = str | dict | Exception | Callable[[list[dict], dict | None], str]


class ScriptedModel:
    provider = "scripted"
    url = "in-process"

    def __init__(self, *steps: Step, repeat_last: bool = False, record: bool = True) -> None:
        self.steps = list(steps)
        self.repeat_last = repeat_last
        self.record = record  # off for long runs: every call's messages would be kept
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def push(self, *steps: Step) -> None:
        with self._lock:
            self.steps.extend(steps)

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        with self._lock:
            if self.record:
                self.calls.append({"messages": messages, "schema": schema})
            if not self.steps:
                raise AssertionError("the scripted model was called more times than scripted")
            step = self.steps[0] if (self.repeat_last and len(self.steps) == 1) else self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        if callable(step):
            step = step(messages, schema)
        text = step if isinstance(step, str) else json.dumps(step)
        return ModelReply(text=text, model="scripted", latency_ms=0, prompt_tokens=0, output_tokens=0)

    def ping(self) -> None:
        return None
