"""What the planner shows the model: its prompt, the tools' real schemas, the session."""

from __future__ import annotations

import json
import re
from datetime import date
from functools import lru_cache
from pathlib import Path

from app.confirmations.parsing import mask_tokens
from app.planner.output import PLAN_SCHEMA
from app.tools.registry import ToolRegistry

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@lru_cache(maxsize=8)
def load_prompt(name: str, prompts_dir: Path = PROMPTS_DIR) -> str:
    return (prompts_dir / name).read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def _tool_lines_cached(registry: ToolRegistry) -> str:
    return _tool_lines(registry)


def tool_lines(registry: ToolRegistry) -> str:
    """Cached per registry object: the agent keeps one view per channel."""
    return _tool_lines_cached(registry)


def _tool_lines(registry: ToolRegistry) -> str:
    lines = []
    for item in registry:
        props = item.args_model.model_json_schema().get("properties", {})
        schema = json.dumps({"type": "object", "properties": {
            k: {key: v[key] for key in ("type", "anyOf", "description", "default", "minimum", "maximum", "enum") if key in v}
            for k, v in props.items()}}, ensure_ascii=False)
        confirm = " (asks the user to confirm)" if item.tag == "write" else ""
        lines.append(f"- {item.name}{confirm}: {item.description}\n  args: {schema}")
    return "\n".join(lines)


MAX_HISTORY_CHARS = 1500
PLAN_SCHEMA_TEXT = json.dumps(PLAN_SCHEMA, ensure_ascii=False)


def quoted(data) -> str:
    """JSON with every '<' escaped: quoted text can never close the tag around it."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


@lru_cache(maxsize=2048)
def _shown(text: str) -> str:
    # Each turn shows the session's last exchanges again: the same texts, masked once.
    return mask_tokens(text[:MAX_HISTORY_CHARS])


def history_block(history: list[tuple[str, str]]) -> str:
    if not history:
        return "(this is the first message)"
    turns = [{"from": role, "text": _shown(text)} for role, text in history]
    return f"<conversation>\n{quoted(turns)}\n</conversation>"


def memories_block(memories: list[dict]) -> str:
    """The person's memories as one quoted JSON list: their text can close no tag and end no
    string, so it stays data whatever it says."""
    if not memories:
        return "(none)"
    shown = [{"id": item["id"], "saved": item["saved"], "text": _shown(item["text"])} for item in memories]
    return f"<memories>\n{quoted(shown)}\n</memories>"


_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def system_prompt(registry: ToolRegistry, facts: dict, history: list[tuple[str, str]] = (),
                  prompts_dir: Path = PROMPTS_DIR, memories: list[dict] = ()) -> str:
    template = load_prompt("planner.md", prompts_dir)
    values = {"tools": tool_lines(registry), "schema": PLAN_SCHEMA_TEXT,
              "facts": quoted(facts) if facts else "(none)", "history": history_block(list(history)),
              "memories": memories_block(list(memories)), "today": date.today().isoformat()}
    # One pass: text put in (a memory, a message) is never searched for placeholders itself.
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def build_messages(system: str, message: str) -> list[dict]:
    """The user's message goes unchanged as the last user message; everything earlier is
    quoted data inside the system prompt, never a turn the model could take as its own."""
    return [{"role": "system", "content": system}, {"role": "user", "content": message}]


def correction(error: str, message: str) -> str:
    return (f"Your previous answer was not a valid plan: {error}.\n"
            "Answer again with exactly one JSON object that matches the schema, and nothing else.\n"
            f"The user's message was:\n{message}")
