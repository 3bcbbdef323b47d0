"""Task slots: threads that claim tasks from the database queue and run their steps, with
a heartbeat that renews the leases of the tasks this process holds. `serve` runs
TASK_WORKERS of them; `llm-planner worker` runs them with nothing else."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import Callable

from app.tasks import queue
from app.tasks.deps import TaskDeps
from app.tasks.steps import StepRunner

log = logging.getLogger("llm_planner.tasks")


def new_owner() -> str:
    # pid alone is not enough: in a container every incarnation is pid 1.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Worker:
    def __init__(self, deps: TaskDeps, slots: int, agents: list[str] | None = None) -> None:
        self.deps, self.slots, self.agents = deps, slots, agents
        self.owner = new_owner()
        self.runner = StepRunner(deps, self.owner)
        self._wake = threading.Condition()
        self._pending_wakes = 0
        self._stop = threading.Event()
        self._beat_stop = threading.Event()  # after the slots: leases stay renewed while they drain
        self._threads: list[threading.Thread] = []
        self._beat: threading.Thread | None = None
        self.running: set[str] = set()  # the tasks whose leases the heartbeat renews
        # Agents: each task's steps run with its agent's model, prompt and tools, and queued
        # tasks are given to agents before each claim. Set by the runtime; None: one agent.
        self.deps_for: Callable[[str], TaskDeps] | None = None
        self.before_claim: Callable[[], object] | None = None
        self._runners: dict[str, StepRunner] = {}

    def start(self) -> None:
        for n in range(self.slots):
            thread = threading.Thread(target=self._slot, name=f"task-slot-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._beat = threading.Thread(target=self._heartbeat, name="task-leases", daemon=True)
        self._beat.start()

    def wake(self) -> None:
        """A task became runnable here: a free slot takes it now, not at its next poll."""
        with self._wake:
            self._pending_wakes += 1
            self._wake.notify()

    def stop(self, drain_sec: float) -> bool:
        """Running steps finish (up to `drain_sec`), then their leases are released; True
        when every slot stopped in time."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + drain_sec
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        drained = not any(thread.is_alive() for thread in self._threads)
        self._beat_stop.set()
        return drained

    def _slot(self) -> None:
        woken = False
        while not self._stop.is_set():
            # Woken for a task just placed (or resumed, or answered): claim it first; the
            # tasks waiting for an agent are looked at before the next claim.
            if self.before_claim is not None and not woken:
                try:
                    self.before_claim()
                except Exception:
                    log.exception("giving queued tasks to agents failed; trying again shortly")
            try:
                claimed = queue.claim(self.deps.engine, self.owner, self.deps.settings.task_lease_sec,
                                           self.agents)
            except Exception:
                log.exception("claiming a task failed; trying again shortly")
                claimed = None
            if claimed is None:
                woken = self._idle()
                continue
            woken = False
            task, _ = claimed
            self.running.add(task.id)
            try:
                self._runner(task.agent).run(task.id, self._stop.is_set, task)
            except Exception:
                # Its lease is no longer renewed: it runs out, and the task is taken over
                # from its last stored step (here or by another worker).
                log.exception("task %s: the step failed; it will be taken over from its last stored step", task.id)
            finally:
                self.running.discard(task.id)

    def _runner(self, agent: str | None) -> StepRunner:
        if self.deps_for is None or agent is None:
            return self.runner
        runner = self._runners.get(agent)
        if runner is None:
            deps = self.deps_for(agent)
            runner = self.runner if deps is self.deps else StepRunner(deps, self.owner)
            runner = self._runners.setdefault(agent, runner)
        return runner

    def _idle(self) -> bool:
        """Until a wake or the next poll; True when woken."""
        with self._wake:
            if not self._pending_wakes:
                self._wake.wait(self.deps.settings.task_poll_sec)
            if self._pending_wakes:
                self._pending_wakes -= 1
                return True
            return False

    def _heartbeat(self) -> None:
        interval = self.deps.settings.task_lease_sec / 3
        while not self._beat_stop.wait(interval):
            try:
                queue.renew(self.deps.engine, self.owner, list(self.running),
                                 self.deps.settings.task_lease_sec)
            except Exception:
                log.exception("renewing task leases failed")
