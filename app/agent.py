"""The runtime: everything a turn needs, built once per process from the settings."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from app.config import Settings
from app.confirmations import Confirmations
from app.executor.registry import ToolRegistry, load_registry
from app.executor.run import Executor
from app.executor.workspace import Workspace
from app.llm import ChatModel, build_model
from app.planner.planner import Planner
from app.schemas import AgentResponse
from app.store.db import create_db_engine
from app.texts import Texts
from app.turn import Message, Turn


class Agent:
    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 model: ChatModel | None = None, registry: ToolRegistry | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_db_engine(settings.db_url)
        self.registry = registry or load_registry(settings.plugins_dir)
        self.model = model or build_model(settings)
        self.workspace = Workspace(settings.workspace_root)
        self.executor = Executor(self.registry, settings.blocked, settings.max_tool_timeout,
                                 settings.max_output_size)
        self.confirmations = Confirmations(settings.confirm_keys, settings.confirm_ttl_sec)
        self.planner = Planner(self.model, self.registry, settings.planner_max_retries)
        self.texts = Texts(settings.reply_language)

    def handle(self, msg: Message) -> AgentResponse:
        return Turn(self, msg).run()
