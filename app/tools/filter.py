"""The one tool filter: what a channel may use, from the allowlist (the registry),
POLICY_FILE and BLOCKED_PERMISSIONS. The planner is shown `visible(channel)`; the executor
runs only what `refusal` lets through. One place, so the two cannot drift."""

from __future__ import annotations

from app.tools.declare import Tool
from app.tools.messages import ToolTexts
from app.tools.policy import Policy
from app.tools.registry import ToolRegistry


class ToolFilter:
    def __init__(self, registry: ToolRegistry, policy: Policy, blocked: frozenset[str],
                 language: str = "en") -> None:
        self.registry, self.policy, self.blocked = registry, policy, blocked
        self.texts = ToolTexts(language)
        self._views: dict[str, ToolRegistry] = {}

    def refusal(self, tool: Tool, channel: str) -> str | None:
        """Why `tool` may not run on `channel`, or None when it may."""
        if not self.policy.permits(channel, tool.name):
            return self.texts("not_on_channel", tool=tool.name, channel=channel)
        denied = sorted(tool.permissions & self.blocked)
        if denied:
            return self.texts("blocked_permission", permissions=", ".join(denied))
        if tool.gate is not None:  # MCP: an untrusted server, a changed tool definition
            return tool.gate()
        return None

    def visible(self, channel: str) -> ToolRegistry:
        """What the planner may offer on a channel. One view per channel, kept: the prompt
        text built from it is cached with it."""
        view = self._views.get(channel)
        if view is None:
            view = self._views[channel] = self.registry.only(
                lambda name: self.refusal(self.registry.get(name), channel) is None)
        return view
