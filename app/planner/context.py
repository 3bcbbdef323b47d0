"""What the planner shows the model: its prompt, the tools' real schemas, the session."""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path

from app.executor.registry import ToolRegistry
from app.planner.output import PLAN_SCHEMA

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@lru_cache(maxsize=8)
def load_prompt(name: str, prompts_dir: Path = PROMPTS_DIR) -> str:
    return (prompts_dir / name).read_text(encoding="utf-8")


def tool_lines(registry: ToolRegistry) -> str:
    lines = []
    for item in registry:
        props = item.args_model.model_json_schema().get("properties", {})
        schema = json.dumps({"type": "object", "properties": {
            k: {key: v[key] for key in ("type", "anyOf", "description", "default", "minimum", "maximum", "enum") if key in v}
            for k, v in props.items()}}, ensure_ascii=False)
        confirm = " (asks the user to confirm)" if item.tag == "write" else ""
        lines.append(f"- {item.name}{confirm}: {item.description}\n  args: {schema}")
    return "\n".join(lines)


def system_prompt(registry: ToolRegistry, facts: dict, prompts_dir: Path = PROMPTS_DIR) -> str:
    template = load_prompt("planner.md", prompts_dir)
    return (template
            .replace("{{tools}}", tool_lines(registry))
            .replace("{{schema}}", json.dumps(PLAN_SCHEMA, ensure_ascii=False))
            .replace("{{facts}}", json.dumps(facts, ensure_ascii=False) if facts else "(none)")
            .replace("{{today}}", date.today().isoformat()))


def build_messages(system: str, history: list[tuple[str, str]], message: str) -> list[dict]:
    messages = [{"role": "system", "content": system}]
    messages += [{"role": role, "content": content} for role, content in history]
    messages.append({"role": "user", "content": message})
    return messages


def correction(error: str, message: str) -> str:
    return (f"Your previous answer was not a valid plan: {error}.\n"
            "Answer again with exactly one JSON object that matches the schema, and nothing else.\n"
            f"The user's message was:\n{message}")
