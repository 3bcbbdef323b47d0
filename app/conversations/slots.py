"""How many turns of one process compute at once.

Past a couple of threads, Python threads running turns only take the GIL from each other:
at 32 concurrent requests each turn cost about twice the CPU of a lone one (BENCHMARKS.md).
A turn holds a slot while it computes or uses the store, and gives it up while it waits on
the model or a tool, so slow models and slow tools never hold anyone up."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from queue import SimpleQueue
from typing import Iterator

from app.llm.base import ChatModel, ModelReply


class TurnSlots:
    def __init__(self, slots: int) -> None:
        # A queue of slot tokens: SimpleQueue blocks in C, where threading.Semaphore takes a
        # Python-level Condition on every acquire and release (several a turn).
        self._slots: SimpleQueue[int] = SimpleQueue()
        for slot in range(slots):
            self._slots.put(slot)
        self._mine = threading.local()

    @contextmanager
    def working(self) -> Iterator[None]:
        """Around a whole turn."""
        slot = self._slots.get()
        self._mine.held = True
        try:
            yield
        finally:
            self._mine.held = False
            self._slots.put(slot)

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait inside a turn; outside a turn it does nothing."""
        if not getattr(self._mine, "held", False):
            yield
            return
        self._mine.held = False
        self._slots.put(-1)  # any token will do: they only count
        try:
            yield
        finally:
            self._slots.get()
            self._mine.held = True


class GatedModel:
    """A model whose calls give the turn's slot up while they wait."""

    def __init__(self, model: ChatModel, slots: TurnSlots) -> None:
        self.inner, self.slots = model, slots

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        with self.slots.waiting():
            return self.inner.chat(messages, schema)
