"""The one tool filter: what a caller may use, from the allowlist (the registry),
the policy (POLICY_FILE and `llm-planner policy` changes) and BLOCKED_PERMISSIONS. The planner
is shown `visible(caller)`; the executor runs only what `refusal` lets through. One place, so
the two cannot drift.

A caller is a channel name or a `Caller` (channel, session, key name, agent). The policy may
change while the service runs (its file is re-read, its changes are in the database, its rules
have hours), so nothing is decided once: each call asks the policy as it stands."""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Protocol

from app.tools.declare import Tool
from app.tools.messages import ToolTexts
from app.tools.policy import Caller, Policy, Subject, as_caller
from app.tools.registry import ToolRegistry


class PolicyHolder(Protocol):
    def current(self) -> Policy: ...


class ToolFilter:
    def __init__(self, registry: ToolRegistry, policy: PolicyHolder, blocked: frozenset[str],
                 language: str = "en", clock: Callable[[], datetime] | None = None) -> None:
        self.registry, self.policy, self.blocked = registry, policy, blocked
        self.texts = ToolTexts(language)
        self.clock = clock or (lambda: datetime.now().astimezone())
        self._views: dict[frozenset[str], ToolRegistry] = {}

    def refusal(self, tool: Tool, who: str | Caller) -> str | None:
        """Why `tool` may not run for `who`, or None when it may."""
        return self._refusal(tool, as_caller(who), self.policy.current(), self.clock())

    def _refusal(self, tool: Tool, caller: Caller, policy: Policy, now: datetime) -> str | None:
        refusing = policy.refusing(caller, tool.name, now)
        if refusing is not None:
            subject, name = refusing
            if subject is Subject.CHANNEL:
                return self.texts("not_on_channel", tool=tool.name, channel=name)
            return self.texts("not_for_subject", tool=tool.name, subject=subject.value.rstrip("s"), name=name)
        denied = sorted(tool.permissions & self.blocked)
        if denied:
            return self.texts("blocked_permission", permissions=", ".join(denied))
        if tool.gate is not None:  # MCP: an untrusted server, a changed tool definition
            return tool.gate()
        return None

    def visible(self, who: str | Caller) -> ToolRegistry:
        """What the planner may offer this caller. One view per set of tools, kept: the prompt
        text built from it is cached with it."""
        caller, policy, now = as_caller(who), self.policy.current(), self.clock()
        names = frozenset(name for name in self.registry.names()
                          if self._refusal(self.registry.get(name), caller, policy, now) is None)
        view = self._views.get(names)
        if view is None:
            if len(self._views) > 256:  # rules with hours and grants make new sets; keep a few
                self._views.clear()
            view = self._views[names] = self.registry.only(lambda name: name in names)
        return view
