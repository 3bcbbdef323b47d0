"""What a task's step shows the model: the task prompt, the tools, and the earlier steps as
quoted data, cut to fit a budget (newest kept whole first)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from app.confirmations.parsing import mask_tokens
from app.planner.output import PLAN_SCHEMA
from app.planner.prompt import load_prompt, quoted, tool_lines
from app.tools.registry import ToolRegistry

# What the earlier steps may take of the prompt, and of it one step at most. About 3,000
# tokens in all: room for a small model's context, and enough to go on from.
STEPS_BUDGET_CHARS = 12000
ONE_STEP_CHARS = 3000
PLAN_SCHEMA_TEXT = json.dumps(PLAN_SCHEMA, ensure_ascii=False)


def task_message(task: Any) -> str:
    """The title and the description, verbatim: the user message of every step."""
    return f"Task: {task.title}\n\n{task.description}"


def steps_block(events: list[dict]) -> str:
    """`events`, oldest first: each a step (its reply, calls and results) or a call a person
    answered. The newest are kept first; what does not fit is said to be left out."""
    kept, size = [], 0
    for event in reversed(events):
        text = quoted(event)
        if len(text) > ONE_STEP_CHARS:
            text = quoted({**{k: event[k] for k in ("step", "kind") if k in event},
                           "cut": text[:ONE_STEP_CHARS]})
        if size + len(text) > STEPS_BUDGET_CHARS:
            break
        kept.append(text)
        size += len(text)
    if not events:
        return "(no step yet: this is the first)"
    left_out = len(events) - len(kept)
    head = f"({left_out} earlier step(s) left out)\n" if left_out else ""
    return head + "<steps>\n" + mask_tokens("\n".join(reversed(kept))) + "\n</steps>"


def system_prompt(tools: ToolRegistry, events: list[dict]) -> str:
    return (load_prompt("task.md")
            .replace("{{tools}}", tool_lines(tools))
            .replace("{{schema}}", PLAN_SCHEMA_TEXT)
            .replace("{{steps}}", steps_block(events))
            .replace("{{today}}", date.today().isoformat()))
