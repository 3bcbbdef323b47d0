"""The optional second call: the model words the answer from the tool results (no schema)."""

from __future__ import annotations

import json
from pathlib import Path

from app.confirmations.parsing import mask_tokens
from app.llm.base import ChatModel, ModelReply
from app.planner.prompt import PROMPTS_DIR, load_prompt, quoted
from app.tools.execution import ToolExecution

MAX_RESULTS_CHARS = 12000


def results_block(executions: list[ToolExecution]) -> str:
    """Tool results as quoted data: fenced, labelled, never presented as instructions."""
    results = [{"tool": e.tool_name, "status": e.status, "output": e.output, "error": e.error}
               for e in executions]
    text = mask_tokens(quoted(json.loads(json.dumps(results, default=str))))[:MAX_RESULTS_CHARS]
    return f"<tool_results>\n{text}\n</tool_results>"


def compose(model: ChatModel, message: str, executions: list[ToolExecution],
            prompts_dir: Path = PROMPTS_DIR) -> ModelReply:
    messages = [
        {"role": "system", "content": load_prompt("answerer.md", prompts_dir)},
        {"role": "user", "content": f"{results_block(executions)}\n\nThe user's message:\n{message}"},
    ]
    return model.chat(messages, None)
