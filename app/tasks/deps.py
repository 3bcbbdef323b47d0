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
from app.tools.registry import ToolRegistry


@dataclass(frozen=True)
class TaskDeps:
    settings: Settings
    engine: Engine
    planner: Planner
    tools_view: ToolRegistry  # what a step is shown: the task channel's tools and the task-only two
    executor: Executor  # over the same tools
    confirmations: Confirmations
    folders: Folders
    records: Records
