"""How the service words its part of a reply: tool results, refusals, confirmation requests."""

from __future__ import annotations

import json

from app.conversations.schemas import Confirmation
from app.conversations.texts import Texts
from app.tools.execution import ToolExecution
from app.tools.registry import ToolRegistry

MAX_RENDERED = 3000


def render_output(output) -> str:
    if isinstance(output, dict) and set(output) >= {"content", "path"} and isinstance(output["content"], str):
        text = output["content"]
    elif isinstance(output, dict) and "entries" in output:
        text = "\n".join(f"{e['name']}{'/' if e['type'] == 'dir' else ''}" for e in output["entries"]) or "(empty)"
    else:
        text = json.dumps(output, ensure_ascii=False, indent=1)
    return text if len(text) <= MAX_RENDERED else text[:MAX_RENDERED] + "\n…"


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
