"""Which agent takes a queued task. An agent may take it when its complexity range holds the
task's complexity, it is not offline, and it holds fewer than `max_tasks` (queued or
running; paused tasks and those waiting for a person do not count): of those, the one
holding fewest, then by name. A task created with `agent` waits for that agent only.

Safe across any number of workers and nodes: each decision is one transaction that first
writes the candidate agents' rows (so two deciders for the same agents take turns, on
MySQL as on SQLite), counts, and gives the task with a conditional UPDATE."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Callable

from app.agents import repository
from app.agents.profiles import Profile, Profiles
from app.audit.chain import AuditTrail
from app.channel import Channel
from app.store.transactions import retried, writing
from app.tasks import repository as task_repository
from app.tasks.folders import Folders
from app.tasks.journal import Journal
from app.tasks.states import UpdateType

log = logging.getLogger("llm_planner.agents")
STATUS_REFRESH_SEC = 2.0
WAITING_PAGE, WAITING_PAGES = 100, 5


class Assigner:
    def __init__(self, engine, profiles: Callable[[], Profiles], folders: Folders) -> None:
        self.engine, self.profiles, self.folders = engine, profiles, folders
        self._refreshed = 0.0

    def assign_waiting(self) -> int:
        """Give every queued task that can go to an agent to one; the others say why they
        wait. Returns how many were given."""
        given, after = 0, None
        # Page by page, so that a hundred tasks no agent can take (one that is offline, say)
        # do not hide a later one whose agent is free; bounded, as it runs before each claim.
        for _ in range(WAITING_PAGES):
            with self.engine.connect() as conn:
                waiting = repository.waiting(conn, WAITING_PAGE, after)
            for task in waiting:
                given += self.place(task, note=True)
            if len(waiting) < WAITING_PAGE:
                break
            after = waiting[-1]
        if given or time.monotonic() - self._refreshed > STATUS_REFRESH_SEC:
            self._refresh_statuses()
        return given

    def place(self, task: Any, note: bool = False) -> bool:
        """Give `task` to an agent now if one can take it; else say why it waits. `note`:
        its updates tell when it was given (a task that waited for an agent)."""
        profiles = self.profiles()
        if task.requested_agent:
            candidates = [profiles.get(task.requested_agent)] if profiles.get(task.requested_agent) else []
        else:
            candidates = [p for p in profiles.agents.values() if p.takes(task.complexity)]
        if not candidates:
            reason = (f"agent {task.requested_agent} is no longer declared" if task.requested_agent
                      else f"no agent takes complexity {task.complexity} ("
                           + ", ".join(f"{p.name} {p.min_complexity}-{p.max_complexity}"
                                       for p in profiles.agents.values()) + ")")
            if task.waiting_for != reason:  # said once, not before every claim
                with writing(self.engine) as conn:
                    repository.set_waiting_for(conn, task.id, reason)
            return False
        for profile in candidates:  # its folder exists before the task can name it
            self.folders.make_task_folder(self.folders.task_path(profile.name, task.id))
        outcome: dict = {}

        def transaction() -> None:
            outcome.clear()
            names = sorted(p.name for p in candidates)
            with writing(self.engine) as conn:
                if len(candidates) == 1 and candidates[0].max_tasks is None:
                    # One agent with no cap (the default deployment): nothing to bound or
                    # balance, so no turns to take and nothing to count.
                    counts = {names[0]: 0}
                else:
                    # The write that makes deciders for these agents take turns.
                    repository.lock_agents(conn, names)
                    counts = repository.active_counts(conn, names)
                rows = {r.name: r for r in repository.rows(conn) if r.name in names}
                open_ = [p for p in candidates if _open(p, rows.get(p.name), counts[p.name])]
                if not open_:
                    repository.set_waiting_for(conn, task.id, _why(task, candidates, rows, counts))
                    return
                chosen = min(open_, key=lambda p: (counts[p.name], p.name))
                relative = self.folders.task_path(chosen.name, task.id)
                if not repository.give(conn, task.id, chosen.name, relative):
                    return  # given or changed meanwhile
                task_repository.add_workspace(conn, chosen.name, task.id, relative)
                repository.touch(conn, chosen.name)
                if chosen.max_tasks is not None and counts[chosen.name] + 1 >= chosen.max_tasks:
                    repository.mark_load(conn, chosen.name, busy=True)
                outcome["agent"] = chosen.name
                if note:
                    journal = Journal(task.id, chosen.name,
                                      AuditTrail(str(uuid.uuid4()), Channel.TASK.value, task.id))
                    journal.add(UpdateType.NOTE, f"assigned to agent {chosen.name}", event="assigned",
                                agent=chosen.name)
                    journal.flush(conn)
                    outcome["journal"] = journal

        retried(transaction, lambda: None, f"task {task.id}: assigning it", log)
        if "journal" in outcome:
            outcome["journal"].trail.committed()
        return "agent" in outcome

    def _refresh_statuses(self) -> None:
        """`busy` while an agent holds its `max_tasks`, `available` again after; an
        operator's `offline` is left alone."""
        self._refreshed = time.monotonic()
        profiles = self.profiles()
        limited = [p for p in profiles.agents.values() if p.max_tasks is not None]
        if not limited:
            return
        with self.engine.begin() as conn:
            counts = repository.active_counts(conn, [p.name for p in limited])
            for profile in limited:
                repository.mark_load(conn, profile.name, busy=counts[profile.name] >= profile.max_tasks)


def _open(profile: Profile, row: Any, count: int) -> bool:
    if row is not None and row.status == "offline":
        return False
    return profile.max_tasks is None or count < profile.max_tasks


def _why(task: Any, candidates: list[Profile], rows: dict, counts: dict) -> str:
    offline = [p.name for p in candidates if rows.get(p.name) is not None and rows[p.name].status == "offline"]
    full = [f"{p.name} {counts[p.name]}/{p.max_tasks}" for p in candidates if p.name not in offline]
    if task.requested_agent:
        if offline:
            return f"agent {task.requested_agent} is offline"
        return f"agent {task.requested_agent} is full ({full[0]} tasks)"
    parts = []
    if full:
        parts.append("full: " + ", ".join(full))
    if offline:
        parts.append("offline: " + ", ".join(offline))
    return f"every agent for complexity {task.complexity} is busy or offline ({'; '.join(parts)})"
