"""The typed collaborators of a task's steps, built once by the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from app.config import Settings
from app.confirmations.tokens import Confirmations
from app.planner.planner import Planner
from app.tasks.folders import Folders
from app.tools.executor import Executor
from app.tools.records import Records


@dataclass(frozen=True)
class TaskDeps:
    settings: Settings
    engine: Engine
    planner: Planner
    executor: Executor  # its filter (`executor.tools`) is what a step is shown and may run: the task
                        # channel's tools and the task-only two, as the policy stands for the task
    confirmations: Confirmations
    folders: Folders
    records: Records
