"""Each agent's own collaborators: its model connection, its prompt addition, its tool
allowlist, and the turn and task-step machinery built over them. Two agents on two models
live side by side in one process; an agent that names no model of its own shares the
service's."""

from __future__ import annotations

import hashlib
import threading
from typing import Callable

from app.agents.profiles import Profile, Profiles
from app.channel import Channel
from app.conversations.deps import TurnDeps
from app.conversations.message import Message
from app.conversations.schemas import AgentResponse
from app.conversations.service import Conversations
from app.conversations.slots import GatedModel
from app.llm import ChatModel, build_model
from app.llm.base import ModelReply
from app.planner.planner import Planner
from app.tasks.deps import TaskDeps
from app.tasks.task_tools import with_task_tools
from app.tools.executor import Executor
from app.tools.filter import ToolFilter
from app.tools.registry import ToolRegistry
from app.tools.workspace import Workspace

MAX_SESSION = 128


def model_settings(settings, profile: Profile):
    """The service's settings with this profile's provider, model, URL and key in place."""
    provider = profile.provider or settings.llm_provider
    update: dict = {"llm_provider": provider}
    if profile.model:
        update[f"{provider}_model"] = profile.model
    if profile.base_url:
        update[f"{provider}_base_url"] = profile.base_url
    if profile.api_key:
        update[f"{provider}_api_key"] = profile.key()
    return settings.model_copy(update=update)


class PromptedModel:
    """A model whose system prompt carries the agent's own prompt after the service's."""

    def __init__(self, model: ChatModel, name: str, addition: str) -> None:
        self.inner, self.addition = model, f"\n\n## You are the agent `{name}`\n{addition}"

    def __getattr__(self, attribute: str):
        return getattr(self.inner, attribute)

    def chat(self, messages: list[dict], schema: dict | None) -> ModelReply:
        if messages and messages[0].get("role") == "system":
            messages = [{**messages[0], "content": messages[0]["content"] + self.addition}, *messages[1:]]
        return self.inner.chat(messages, schema)


class Crew:
    """Built lazily, once per agent: a profile's model is connected when first used."""

    def __init__(self, runtime, profiles: Callable[[], Profiles]) -> None:
        self.runtime, self.profiles = runtime, profiles
        self._models: dict[str, ChatModel] = {}
        self._conversations: dict[str, Conversations] = {}
        self._task_deps: dict[str, TaskDeps] = {}
        self._lock = threading.Lock()

    def profile(self, name: str) -> Profile | None:
        return self.profiles().get(name)

    def model(self, name: str) -> ChatModel:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                profile = self.profile(name)
                base = self.runtime.model
                if profile is not None and profile.own_model:
                    base = build_model(model_settings(self.runtime.settings, profile))
                if profile is not None and profile.prompt_text:
                    base = PromptedModel(base, name, profile.prompt_text)
                model = self._models[name] = base
            return model

    def registry(self, name: str) -> ToolRegistry:
        """The tools this agent may have: its allowlist over the service's."""
        profile = self.profile(name)
        registry = self.runtime.registry
        if profile is None or profile.tools is None:
            return registry
        allowed = set(profile.tools)
        return registry.only(lambda tool: tool in allowed)

    def tool_names(self, name: str) -> list[str]:
        return self.registry(name).names()

    def conversations(self, name: str) -> Conversations:
        with self._lock:
            found = self._conversations.get(name)
        if found is not None:
            return found
        rt, settings = self.runtime, self.runtime.settings
        profile = self.profile(name)
        tools = ToolFilter(self.registry(name), rt.tools.policy, settings.blocked, settings.reply_language)
        slots = rt.conversations.slots  # one process: one bound on turns computing at once
        gated = GatedModel(self.model(name), slots)
        base = rt.conversations.deps
        workspace = Workspace(profile.workspace) if profile is not None and profile.workspace else base.workspace
        conversations = Conversations(TurnDeps(
            settings=settings, engine=rt.engine,
            planner=Planner(gated, tools.registry, settings.planner_max_retries),
            answer_model=gated, tools=tools,
            executor=Executor(tools, settings.max_tool_timeout, settings.max_output_size,
                              waiting=slots.waiting, language=settings.reply_language),
            confirmations=base.confirmations, texts=base.texts, limits=base.limits, workspace=workspace,
            records=base.records, task_desk=base.task_desk, memory=base.memory), slots)
        with self._lock:
            return self._conversations.setdefault(name, conversations)

    def answer(self, name: str, channel: Channel, session_id: str, text: str,
               key_name: str | None = None) -> AgentResponse:
        """A turn with this agent. Its sessions are its own: the same session id on `/agent`
        and on another agent is another conversation. The policy sees the agent and the key."""
        reply = self.conversations(name).answer(Message(channel=channel, session_id=agent_session(name, session_id),
                                                        text=text, key_name=key_name, agent=name))
        return reply.model_copy(update={"session_id": session_id})

    def task_deps(self, name: str) -> TaskDeps:
        with self._lock:
            found = self._task_deps.get(name)
        if found is not None:
            return found
        rt, settings = self.runtime, self.runtime.settings
        base = rt.task_worker.deps
        profile = self.profile(name)
        if profile is None or not (profile.own_model or profile.prompt_text or profile.tools is not None):
            return base  # nothing of its own: the service's steps as they are
        task_tools = ToolFilter(with_task_tools(self.registry(name)), rt.tools.policy, settings.blocked,
                                settings.reply_language)
        deps = TaskDeps(
            settings=settings, engine=rt.engine,
            planner=Planner(self.model(name), task_tools.registry, settings.planner_max_retries),
            executor=Executor(task_tools, settings.max_tool_timeout, settings.max_output_size,
                              language=settings.reply_language),
            confirmations=base.confirmations, folders=base.folders, records=base.records)
        with self._lock:
            return self._task_deps.setdefault(name, deps)


def agent_session(name: str, session_id: str) -> str:
    session = f"{name}:{session_id}"
    if len(session) <= MAX_SESSION:
        return session
    return f"{name}:#{hashlib.sha256(session_id.encode()).hexdigest()[:40]}"


class Counted:
    """An agent service's conversations, counting the turns it served (for `/status`)."""

    def __init__(self, conversations: Conversations) -> None:
        self.inner, self.served = conversations, 0

    def __getattr__(self, attribute: str):
        return getattr(self.inner, attribute)

    def answer(self, msg: Message) -> AgentResponse:
        self.served += 1
        return self.inner.answer(msg)
