"""The runtime: the composition root. It builds every collaborator from the settings, once
per process, and hands each what it uses; it does nothing else."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from app.agents.crew import Counted
from app.agents.profiles import load_profiles
from app.agents.service import Agents
from app.channel import Channel
from app.config import Settings
from app.confirmations.tokens import Confirmations
from app.conversations.deps import TurnDeps
from app.conversations.service import Conversations
from app.conversations.slots import GatedModel, TurnSlots
from app.conversations.texts import Texts
from app.deliveries.inbox import Inbox
from app.deliveries.lifecycle import Deliveries
from app.deliveries.repliers import TwilioReplier, WhatsAppCloudReplier
from app.llm import ChatModel, build_model
from app.mcp.client import McpTools  # MCP (also registers mcp_pins on the metadata)
from app.observability import metrics
from app.planner.planner import Planner
from app.policy.live import PolicySource
from app.rate_limits import RateLimits
from app.store.db import create_db_engine
from app.tasks.deps import TaskDeps
from app.tasks.desk import Desk
from app.tasks.folders import Folders
from app.tasks.service import DEFAULT_AGENT, Tasks
from app.tasks.task_tools import with_task_tools
from app.tasks.worker import Worker
from app.tools.executor import Executor
from app.tools.filter import ToolFilter
from app.tools.records import Records
from app.tools.registry import ToolRegistry, load_registry
from app.tools.workspace import Workspace


class Runtime:
    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 model: ChatModel | None = None, registry: ToolRegistry | None = None) -> None:
        self.settings = settings
        self.engine = engine or create_db_engine(settings.db_url)
        self.registry = registry or load_registry(settings.plugins_dir)
        # sandbox: with SANDBOX=none a `sandboxed` tool asks for confirmation like a `write` one
        if settings.sandbox == "none":
            self.registry = self.registry.sandbox_off()
        # MCP: the [mcp.NAME] servers' listed tools join the allowlist as `NAME.tool`, before
        # any view of it is taken (their sessions start at their first call).
        self.mcp = McpTools(settings, self.engine)
        self.mcp.register(self.registry)
        metrics.KNOWN_TOOLS.update(self.registry.names())
        self.model = model or build_model(settings)
        self.texts = Texts(settings.reply_language)
        self.limits = RateLimits(settings)
        # The policy as it stands: its file re-read on change, the database's grants over it.
        self.policy = policy = PolicySource(settings.policy_file, self.engine)
        self.tools = ToolFilter(self.registry, policy, settings.blocked, settings.reply_language)
        confirmations = Confirmations(settings.confirm_keys, settings.confirm_ttl_sec,
                                      settings.confirm_max_failures)
        # Tasks: their steps see the task channel's tools and the two task-only ones.
        task_tools = ToolFilter(with_task_tools(self.registry), policy, settings.blocked, settings.reply_language)
        folders = Folders(settings.workspace_root)
        task_deps = TaskDeps(
            settings=settings, engine=self.engine,
            planner=Planner(self.model, task_tools.registry, settings.planner_max_retries),
            executor=Executor(task_tools, settings.max_tool_timeout, settings.max_output_size,
                              language=settings.reply_language),
            confirmations=confirmations, folders=folders, records=Records(self.engine))
        self.tasks = Tasks(self.engine, confirmations, folders, lambda: [DEFAULT_AGENT],
                           log=logging.getLogger("llm_planner.tasks"))
        self.task_worker = Worker(task_deps, settings.task_workers)
        self.tasks.listeners.append(self.task_worker.wake)
        slots = TurnSlots(settings.turn_concurrency)
        gated_model = GatedModel(self.model, slots)
        self.conversations = Conversations(TurnDeps(
            settings=settings, engine=self.engine,
            planner=Planner(gated_model, self.registry, settings.planner_max_retries),
            answer_model=gated_model, tools=self.tools,
            executor=Executor(self.tools, settings.max_tool_timeout, settings.max_output_size,
                              waiting=slots.waiting, language=settings.reply_language),
            confirmations=confirmations,
            texts=self.texts, limits=self.limits, workspace=Workspace(settings.workspace_root),
            records=Records(self.engine), task_desk=Desk(self.tasks)), slots)
        self.deliveries = Deliveries(
            self.engine, Inbox(self.engine, settings.inbox_lease_sec, settings.inbox_wait_sec),
            self.conversations.answer,
            repliers={Channel.WHATSAPP_CLOUD: WhatsAppCloudReplier(settings, self.texts),
                      Channel.TWILIO: TwilioReplier(settings)})
        # Where HTTP routes run their turns (app.http.deps.off_loop): as many as AnyIO's default.
        self.request_threads = ThreadPoolExecutor(max_workers=40, thread_name_prefix="request")
        # memory: the people's memories, for the planner and the memory tools of a chat
        from dataclasses import replace

        from app.memory.service import MemoryService, configured_secrets
        self.memory = MemoryService(self.engine, configured_secrets(settings))
        self.conversations.deps = replace(self.conversations.deps, memory=self.memory)

        # Agents: the profiles of AGENTS_FILE (or the implicit `default`), each with its own
        # model, prompt and tools; tasks are given to them; each may run as its own service
        # (`serve --agent NAME`, settings.agent_name), whose `/agent` and task slots are its own.
        self.agents = Agents(self, load_profiles(settings.agents_file, with_task_tools(self.registry).names()))
        self.tasks.agents = self.agents.names
        self.tasks.assigner = self.agents.assigner
        self.task_worker.deps_for = self.agents.crew.task_deps
        self.task_worker.before_claim = self.agents.assigner.assign_waiting
        if settings.agent_name:
            self.agents.profile(settings.agent_name)
            self.task_worker.agents = [settings.agent_name]
            self.conversations = Counted(self.agents.crew.conversations(settings.agent_name))
