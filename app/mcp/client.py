"""The client side: the operator file's `[mcp.NAME]` servers' listed tools, offered as
`NAME.tool` tools of the allowlist, so they go through the same filter, executor,
confirmation and audit as every plugin.

What the planner is shown and what arguments are checked against is the definition the
operator pinned (`llm-planner mcp trust NAME`); before each call the server's live
definition is compared with the pin, and a changed one is refused (that tool only)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import jsonschema
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.mcp import pins
from app.mcp.connections import Connections
from app.tools.declare import Tool, ToolContext
from app.tools.errors import BadToolDeclaration, ToolError
from app.tools.operator_file import McpServer, OperatorFileError, load_operator
from app.tools.registry import ToolRegistry

log = logging.getLogger("llm_planner.mcp")
PIN_CACHE_SEC = 2.0


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a JSON Schema we can check arguments against, or None."""
    if not isinstance(schema, dict):
        return "it is not an object"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        return exc.message[:200]
    except Exception as exc:  # an unknown $schema, a broken $ref: not checkable either
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def check_args(schema: Any, args: dict[str, Any]) -> str | None:
    """Why `args` do not satisfy `schema`, or None."""
    problem = schema_problem(schema)
    if problem:
        return f"the server's input schema is not valid JSON Schema ({problem}); nothing was sent"
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
    except Exception as exc:
        return f"the arguments cannot be checked against the server's input schema ({type(exc).__name__}); nothing was sent"
    if not errors:
        return None
    return "; ".join(f"{'.'.join(str(p) for p in e.absolute_path) or 'args'}: {_said(e)}" for e in errors[:5])


def _said(error) -> str:
    """jsonschema's message quotes the value: a long one is said by the rule it breaks."""
    if len(error.message) <= 160:
        return error.message
    return f"does not satisfy {error.validator} {json.dumps(error.validator_value, default=str)[:100]}"


class McpTools:
    def __init__(self, settings: Settings, engine: Engine, connections: Connections | None = None) -> None:
        self.settings, self.engine = settings, engine
        self.connections = connections or Connections(settings)
        self._pins: dict[str, tuple[float, dict[str, Any]]] = {}

    def servers(self) -> dict[str, McpServer]:
        try:
            return load_operator(self.settings.operator_file).mcp
        except OperatorFileError:
            return {}  # said by the operator file's own checks; no MCP tool then

    def register(self, registry: ToolRegistry) -> None:
        for server_name, server in sorted(self.servers().items()):
            for tool_name in server.tools:
                try:
                    item = self._tool(server_name, server, tool_name)
                except BadToolDeclaration as exc:
                    log.error("mcp.%s: tool %r cannot be offered: %s", server_name, tool_name, exc)
                    continue
                registry.add(item, source=f"mcp.{server_name}")

    # -- pins, read again every few seconds ----------------------------------------------

    def pin(self, server_name: str, tool_name: str, fresh: bool = False) -> Any:
        cached = self._pins.get(server_name)
        if fresh or cached is None or time.monotonic() - cached[0] > PIN_CACHE_SEC:
            try:
                found = pins.of_server(self.engine, server_name)
            except SQLAlchemyError:  # no table yet (a database not migrated): nothing trusted
                found = {}
            self._pins[server_name] = cached = (time.monotonic(), found)
        return cached[1].get(tool_name)

    def refusal(self, server_name: str, tool_name: str) -> str | None:
        pin = self.pin(server_name, tool_name)
        if pin is None or pin.changed_hash:  # read again before refusing: trusted a moment ago?
            pin = self.pin(server_name, tool_name, fresh=True)
        if pin is None:
            return (f"MCP server {server_name} has not been trusted for {tool_name}: an operator runs "
                    f"`llm-planner mcp trust {server_name}` first")
        if pin.changed_hash:
            return (f"the definition of {server_name}.{tool_name} changed since it was trusted; it is refused "
                    f"until an operator checks it and runs `llm-planner mcp trust {server_name}` again")
        return None

    # -- one tool ------------------------------------------------------------------------

    def _tool(self, server_name: str, server: McpServer, tool_name: str) -> Tool:
        full = f"{server_name}.{tool_name}"
        pin = self.pin(server_name, tool_name)
        description = (pin.definition.get("description") if pin is not None else "") or \
            f"{tool_name} of the MCP server {server_name}"
        # A command server's `read` tools run unconfirmed because the server runs in the
        # sandbox; with SANDBOX=none nothing contains it, so they ask like a write does (as
        # `sandboxed` plugins do). A URL server's run elsewhere: its `read` stays read.
        contained = server.url is not None or self.settings.sandbox != "none"
        tag = "read" if tool_name in server.read and contained else "write"
        permissions = {"network" if server.url is not None else "execute"}
        if tag == "write":
            permissions.add("write")
        return Tool(name=full, description=description[:2000],
                    args_model=self._args_model(server_name, tool_name),
                    func=lambda args, ctx: self.call(server_name, tool_name, args.model_dump(mode="json"), ctx),
                    permissions=frozenset(permissions), tag=tag, mcp_server=server_name,
                    gate=lambda: self.refusal(server_name, tool_name))

    def _args_model(self, server_name: str, tool_name: str) -> type[BaseModel]:
        def schema() -> Any:
            pin = self.pin(server_name, tool_name)
            return pin.definition.get("inputSchema") if pin is not None else None
        return _args_model_for(schema)

    def call(self, server_name: str, tool_name: str, args: dict[str, Any], ctx: ToolContext) -> Any:
        server = self.servers().get(server_name)
        if server is None or tool_name not in server.tools:
            raise ToolError(f"MCP server {server_name} no longer offers {tool_name} in the operator file")
        pin = self.pin(server_name, tool_name, fresh=True)
        refusal = self.refusal(server_name, tool_name)
        if refusal:
            raise ToolError(refusal)
        # A second before the executor gives up, so the server's failure is what is reported.
        budget = max(1.0, ctx.timeout - 1)
        timeout = min(server.timeout, budget)

        async def work(client) -> Any:
            from app.mcp.connections import _all_tools

            live = {item["name"]: item for item in await _all_tools(client)}.get(tool_name)
            if live is None:
                return ("gone", None)
            if pins.definition_hash(live) != pin.definition_hash:
                return ("changed", pins.definition_hash(live))
            return ("ran", await client.call_tool(tool_name, args))

        what, result = self.connections.run(server_name, server, work, timeout, budget)
        if what == "gone":
            raise ToolError(f"MCP server {server_name} no longer offers {tool_name}; nothing was sent")
        if what == "changed":
            pins.note_change(self.engine, server_name, tool_name, result)
            self._pins.pop(server_name, None)
            raise ToolError(self.refusal(server_name, tool_name) or "the tool's definition changed")
        return _output(server_name, tool_name, result, ctx.max_output_size)


def _args_model_for(schema: Callable[[], Any]) -> type[BaseModel]:
    class McpArgs(BaseModel):
        """The server's own input schema (as pinned) checks the arguments: jsonschema, not
        Pydantic, so what the planner is shown is what is enforced."""
        model_config = ConfigDict(extra="allow")

        @model_validator(mode="before")
        @classmethod
        def _against_schema(cls, data: Any) -> Any:
            current = schema()
            if current is None:
                return data  # an untrusted tool: refused before its arguments matter
            if not isinstance(data, dict):
                raise ValueError("arguments must be an object")
            problem = check_args(current, data)
            if problem:
                raise ValueError(problem)
            return data

        @classmethod
        def model_json_schema(cls, *args, **kwargs) -> dict[str, Any]:
            current = schema()
            return current if isinstance(current, dict) else {"type": "object", "properties": {}}

    return McpArgs


def _output(server_name: str, tool_name: str, result: Any, max_size: int) -> Any:
    try:
        texts = [getattr(block, "text", None) for block in result.content]
        text = "\n".join(t if isinstance(t, str) else f"[{getattr(block, 'type', 'content')}]"
                         for t, block in zip(texts, result.content))
        structured = result.structured_content
    except Exception:
        raise ToolError(f"MCP server {server_name} answered {tool_name} with something that is not a "
                        "tool result") from None
    if result.is_error:
        raise ToolError(f"{server_name}.{tool_name} failed: {text[:2000] or 'no reason given'}")
    output = structured if structured is not None else text
    size = len(json.dumps(output, ensure_ascii=False, default=str))
    if size > max_size:
        raise ToolError(f"{server_name}.{tool_name} answered {size} characters, more than MAX_OUTPUT_SIZE "
                        f"({max_size}); the result was dropped")
    return output
