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


def inline_schema(model: type[BaseModel] = PlannerOutput) -> dict:
    """The JSON schema with every $ref replaced by its definition: Ollama's structured
    output and small models follow an inline schema, not references."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items() if key != "title"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


PLAN_SCHEMA = inline_schema()
