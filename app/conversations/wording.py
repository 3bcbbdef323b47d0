"""How the service words its part of a reply: tool results, refusals, confirmation requests."""

from __future__ import annotations

import json
from typing import Any

from app.conversations.schemas import Confirmation
from app.conversations.texts import Texts
from app.tools.declare import Tool
from app.tools.execution import ToolExecution
from app.tools.registry import ToolRegistry

MAX_RENDERED = 3000


def render_output(output: Any, tool: Tool | None = None) -> str:
    """A result as words a person reads in a chat (lists as lines), never raw JSON: the
    tool's own rendering when it declares one, else a plain one from the result's shape."""
    text = None
    if tool is not None and tool.render is not None:
        try:
            text = tool.render(output)
        except Exception:  # a rendering that trips on an odd result falls back to the plain one
            text = None
    if text is None:
        text = "\n".join(_lines(output))
    return text if len(text) <= MAX_RENDERED else text[:MAX_RENDERED] + "\n…"


def _lines(value: Any, depth: int = 0) -> list[str]:
    pad = "  " * depth
    if isinstance(value, dict):
        if set(value) >= {"content", "path"} and isinstance(value["content"], str):
            return [value["content"]]
        if "entries" in value and isinstance(value["entries"], list):
            return [f"{e.get('name')}{'/' if e.get('type') == 'dir' else ''}" for e in value["entries"]
                    if isinstance(e, dict)] or ["(empty)"]
        lines = []
        for key, item in value.items():
            label = str(key).replace("_", " ")
            if isinstance(item, (dict, list)) and item and depth < 3:
                lines.append(f"{pad}{label}:")
                lines += _lines(item, depth + 1)
            else:
                lines.append(f"{pad}{label}: {_scalar(item)}")
        return lines or [f"{pad}(nothing)"]
    if isinstance(value, list):
        if not value:
            return [f"{pad}(none)"]
        return [f"{pad}- " + (", ".join(f"{str(k).replace('_', ' ')} {_scalar(v)}" for k, v in item.items())
                              if isinstance(item, dict) else _scalar(item)) for item in value]
    return [pad + _scalar(value)]


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)[:200]
    return str(value)


def problems(texts: Texts, executions: list[ToolExecution]) -> list[str]:
    lines = []
    for ex in executions:
        if ex.status == "error":
            lines.append(texts("tool_failed", tool=ex.tool_name, error=ex.error))
        elif ex.status == "blocked":
            lines.append(texts("tool_blocked", tool=ex.tool_name, error=ex.error))
    return lines


def confirmation_requests(texts: Texts, confirmations: list[Confirmation]) -> list[str]:
    return [texts("confirm_request", tool=c.tool_name, preview=c.preview, token=c.token,
                  expires_at=c.expires_at.strftime("%Y-%m-%d %H:%M UTC")) for c in confirmations]


def catalogue(texts: Texts, registry: ToolRegistry) -> str:
    lines = [texts("tools_header")]
    for item in registry:
        schema = item.args_schema
        props, required = schema.get("properties", {}), set(schema.get("required", []))
        args = " ".join(f"{name}=…" if name in required else f"[{name}=…]" for name in props)
        mark = " (write)" if item.tag == "write" else ""
        lines.append(f"/{item.name} {args}".rstrip() + f"{mark}: {item.description}")
    return "\n".join(lines)
