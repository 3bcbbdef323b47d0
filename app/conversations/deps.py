"""The typed collaborators of a turn, built once by the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from app.config import Settings
from app.confirmations.tokens import Confirmations
from app.conversations.texts import Texts
from app.llm.base import ChatModel
from app.memory.service import MemoryService
from app.planner.planner import Planner
from app.rate_limits import RateLimits
from app.tools.executor import Executor
from app.tools.filter import ToolFilter
from app.tools.handles import TaskDesk
from app.tools.records import Records
from app.tools.workspace import Workspace


@dataclass(frozen=True)
class TurnDeps:
    """Everything a turn uses, built once by the runtime."""
    settings: Settings
    engine: Engine
    planner: Planner
    answer_model: ChatModel  # words the answer from tool results (ANSWERER_ENABLED)
    tools: ToolFilter
    executor: Executor
    confirmations: Confirmations
    texts: Texts
    limits: RateLimits
    workspace: Workspace
    records: Records
    task_desk: TaskDesk | None = None  # what ctx.tasks gives a chat's tools, and /task reads
    memory: MemoryService | None = None  # the people's memories: the planner's, and ctx.memories
