"""PlannerOutput: the one JSON object a model may answer with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FactValue = str | int | float | bool | None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tool: str = Field(..., min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


class PlannerOutput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reply: str = Field(..., max_length=10000)
    tool_calls: list[ToolCall] = Field(default_factory=list, max_length=8)
    facts: dict[str, FactValue] = Field(default_factory=dict, max_length=50)


# Size limits turn into huge repetitions in the grammar Ollama/llama.cpp builds from a
# schema; Pydantic enforces them after the fact instead.
DROPPED_KEYWORDS = {"title", "maxLength", "minLength", "maxItems", "maxProperties", "default"}


def inline_schema(model: type[BaseModel] = PlannerOutput) -> dict:
    """The schema sent to the model: every $ref inlined, no size keywords, and every key
    required, so a grammar-constrained small model always writes the same three keys."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            out = {key: resolve(value) for key, value in node.items() if key not in DROPPED_KEYWORDS}
            if "properties" in out:
                out["required"] = list(out["properties"])
            if "anyOf" in out:  # integer is a number; one branch fewer for the grammar
                out["anyOf"] = [b for b in out["anyOf"] if b.get("type") != "integer"]
            return out
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


PLAN_SCHEMA = inline_schema()
