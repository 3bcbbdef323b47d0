"""How a tool is declared: the `tool` decorator or a `BaseTool` subclass, its argument
model, and the context it runs with.

A tool is a function whose first parameter is annotated with a Pydantic model (its
arguments) and whose second is the `ToolContext`. The JSON schema the planner sees is
derived from that model, never written by hand.

A tool names its secret arguments (`secret_args`: a code, a password): wherever the call
is stored, audited or shown their values read `[secret]`, and a parked call keeps them
encrypted until it is confirmed.
"""

from __future__ import annotations

import inspect
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict

from app.config import Settings
from app.masking import SECRET
from app.tools.errors import BadToolDeclaration
from app.tools.handles import MemoryDesk, TaskDesk
from app.tools.records import Records
from app.tools.workspace import Workspace

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# MCP: a tool of an MCP server is offered as `SERVER.tool` (the server's own tool name, which
# MCP lets hold capitals, digits, `_`, `-` and `.`); 64 characters at most in all, the width
# every table gives a tool name. Plugins' names keep NAME_PATTERN.
MCP_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}\.[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
PERMISSIONS = ("read", "write", "execute", "network")
LANGUAGES = ("en", "es")
# `sandboxed`: between read and write. It runs without confirmation because everything it
# does happens in a process inside the sandbox; with SANDBOX=none it is treated as `write`.
TAGS = ("read", "sandboxed", "write")


class ToolArgs(BaseModel):
    """Base for argument models: unknown keys are refused, never ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ToolContext:
    """What a tool is handed besides its arguments."""
    workspace: Workspace  # the only tree its file arguments may reach
    settings: Settings
    records: Records  # a transaction on the service's database, for tools that keep records
    request_id: str
    session_id: str
    max_output_size: int
    timeout: float = 30.0  # what the executor allows this call; set before the tool runs
    language: str = "en"  # REPLY_LANGUAGE: "en" or "es", for the texts a tool writes itself
    tasks: TaskDesk | None = None  # starts and reads tasks, in a chat (None inside a task)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("llm_planner.tools"))
    # memory: the memories of the person in the chat, and no one else's (None inside a task)
    memories: MemoryDesk | None = None
    # The tool holds `network` and it is not blocked: its processes may reach the network.
    network: bool = False


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args_model: type[BaseModel]
    func: Callable[[BaseModel, ToolContext], Any]
    permissions: frozenset[str]
    tag: Literal["read", "sandboxed", "write"]
    timeout: float | None = None
    preview: Callable[[BaseModel, ToolContext], str] | None = None
    # Its only effect is on files under the folder it is handed: inside a task (whose folder
    # is its own scratch) it runs without confirmation. Everywhere else `write` still asks.
    folder_only: bool = False
    secret_args: frozenset[str] = frozenset()
    # What a person reads of a result in a chat's reply (the JSON stays in tool_executions).
    render: Callable[[Any], str] | None = None
    # MCP: the MCP server this tool is offered from (its name is then `SERVER.tool`), and why it
    # may not run right now (not trusted, its definition changed), asked wherever a call is
    # allowed or refused; None: nothing stops it.
    mcp_server: str | None = None
    gate: Callable[[], str | None] | None = None

    def __post_init__(self) -> None:
        pattern = NAME_PATTERN if self.mcp_server is None else MCP_NAME_PATTERN
        if not pattern.match(self.name) or len(self.name) > 64 or (
                self.mcp_server is not None and not self.name.startswith(self.mcp_server + ".")):
            raise BadToolDeclaration(f"tool name {self.name!r} must match {pattern.pattern}")
        if self.tag not in TAGS:
            raise BadToolDeclaration(f"{self.name}: tag must be 'read', 'sandboxed' or 'write'")
        unknown = set(self.permissions) - set(PERMISSIONS)
        if not self.permissions or unknown:
            raise BadToolDeclaration(f"{self.name}: permissions must be some of {PERMISSIONS}")
        # An MCP command server's read tools carry `execute` (it is a process we start, in the
        # sandbox): the operator's `read` list, not the permission, says they only read.
        if self.tag == "read" and self.permissions & {"write", "execute"} and not (
                self.mcp_server is not None and "write" not in self.permissions):
            # A tool that changes things must be confirmed; it cannot call itself read-only.
            raise BadToolDeclaration(f"{self.name}: a tool with write/execute must be tagged 'write'")
        if self.tag == "sandboxed" and ("execute" not in self.permissions or "write" in self.permissions):
            # Only processes run in the sandbox; a change made by the service itself is `write`.
            raise BadToolDeclaration(f"{self.name}: a 'sandboxed' tool needs 'execute' and not 'write'")
        if not (isinstance(self.args_model, type) and issubclass(self.args_model, BaseModel)):
            raise BadToolDeclaration(f"{self.name}: arguments must be a Pydantic model")
        if self.timeout is not None and self.timeout <= 0:
            raise BadToolDeclaration(f"{self.name}: timeout must be positive")
        unknown = set(self.secret_args) - set(self.args_model.model_fields)
        if unknown:
            raise BadToolDeclaration(f"{self.name}: secret_args names no argument: {', '.join(sorted(unknown))}")

    def secret_values(self, args: dict[str, Any]) -> list[str]:
        """The values of the secret arguments in `args` (raw or validated), as text."""
        return [value if isinstance(value, str) else str(value)
                for name, value in args.items() if name in self.secret_args and value is not None]

    def masked(self, args: dict[str, Any]) -> dict[str, Any]:
        """`args` as stored and shown: each secret argument's value replaced by SECRET."""
        if not self.secret_args:
            return args
        return {name: SECRET if name in self.secret_args else value for name, value in args.items()}

    @property
    def args_schema(self) -> dict:
        return self.args_model.model_json_schema()

    def describe(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "tag": self.tag,
            "permissions": sorted(self.permissions),
            "args_schema": self.args_schema,
        }


class BaseTool:
    """The class form of a tool: subclass it, set the attributes, write `run` (and
    optionally `preview`). The loader finds subclasses defined in a plugin module."""

    name: str
    description: str = ""
    args_model: type[BaseModel]
    permissions: tuple[str, ...] = ("read",)
    tag: Literal["read", "sandboxed", "write"] = "read"
    timeout: float | None = None
    folder_only: bool = False
    secret_args: tuple[str, ...] = ()

    def run(self, args: BaseModel, ctx: ToolContext) -> Any:
        raise NotImplementedError

    def preview(self, args: BaseModel, ctx: ToolContext) -> str:
        raise NotImplementedError

    @classmethod
    def as_tool(cls) -> Tool:
        instance = cls()
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        return Tool(name=getattr(cls, "name", ""), description=cls.description or doc or cls.__name__,
                    args_model=getattr(cls, "args_model", None), func=instance.run,
                    permissions=frozenset(cls.permissions), tag=cls.tag, timeout=cls.timeout,
                    folder_only=cls.folder_only,
                    secret_args=frozenset(cls.secret_args),
                    preview=instance.preview if cls.preview is not BaseTool.preview else None)


def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    permissions: tuple[str, ...] | list[str] = ("read",),
    tag: Literal["read", "sandboxed", "write"] = "read",
    timeout: float | None = None,
    preview: Callable[[BaseModel, ToolContext], str] | None = None,
    folder_only: bool = False,
    secret_args: tuple[str, ...] | list[str] = (),
    render: Callable[[Any], str] | None = None,
) -> Callable[[Callable], Tool]:
    """Declare a tool. The decorated function becomes a `Tool` the plugin loader finds.
    `secret_args`: the arguments whose values are never stored or shown (codes, passwords)."""

    def declare(func: Callable) -> Tool:
        params = list(inspect.signature(func).parameters.values())
        hints = inspect.get_annotations(func, eval_str=True)
        args_model = hints.get(params[0].name) if params else None
        doc = inspect.getdoc(func) or ""
        return Tool(
            name=name or func.__name__,
            description=description or doc.split("\n\n")[0].strip() or func.__name__,
            args_model=args_model,  # type: ignore[arg-type]
            func=func,
            permissions=frozenset(permissions),
            tag=tag,
            timeout=timeout,
            preview=preview,
            folder_only=folder_only,
            secret_args=frozenset(secret_args),
            render=render,
        )

    return declare
