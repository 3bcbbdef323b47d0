"""OPERATOR_FILE: what tools may reach beyond the workspace. Nothing outside it is reachable.

    [logs]                      # tail_log(name, lines)
    app = "/var/log/myapp/app.log"

    [jobs.backup]               # run_job(name, params): argv only, never a shell
    argv = ["tar", "czf", "backup-{label}.tgz", "data"]
    cwd = "."                   # relative to WORKSPACE_ROOT
    timeout = 120
    env = { TZ = "UTC" }
    params = { label = { pattern = "^[a-z0-9-]{1,32}$" } }

    [apis.status]               # http_get(api, path, params)
    base_url = "http://127.0.0.1:9000"
    headers = { Authorization = "env:STATUS_TOKEN" }   # read from the environment

    [web]                       # fetch_url: private hosts it may reach (host or host:port)
    allow_hosts = ["127.0.0.1:9000", "intranet.local"]

    [email]                     # send_email: glob patterns on the recipients' addresses
    allow = ["*@acme.com", "ops@example.org"]
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from app.tools.errors import ToolError
from app.validation_errors import error_lines

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class OperatorFileError(ValueError):
    pass


def from_env(values: dict[str, str], what: str) -> dict[str, str]:
    """`values` with each `env:NAME` read now; an unset one refuses the call (an empty
    secret would be sent as if none were needed)."""
    out = {}
    for name, value in values.items():
        if value.startswith("env:"):
            variable, value = value[4:], os.environ.get(value[4:], "")
            if not value:
                raise ToolError(f"{what} {name} reads the environment variable {variable}, which is "
                                f"not set on the server; the call was not made")
        out[name] = value
    return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobParam(_Strict):
    pattern: str | None = None
    choices: list[str] | None = None
    max_length: int = Field(64, ge=1, le=1024)
    description: str = ""

    @model_validator(mode="after")
    def _bounded(self) -> "JobParam":
        if self.pattern is None and self.choices is None:
            raise ValueError("a job parameter needs a pattern or choices: nothing free-form reaches argv")
        if self.pattern is not None:
            re.compile(self.pattern)
        return self

    def check(self, value: str) -> bool:
        if len(value) > self.max_length:
            return False
        if self.choices is not None and value not in self.choices:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, value) is not None


class Job(_Strict):
    argv: list[str] = Field(..., min_length=1)
    cwd: str = "."
    timeout: float = Field(60, gt=0, le=3600)
    env: dict[str, str] = {}
    params: dict[str, JobParam] = {}
    description: str = ""
    cpu_seconds: int | None = Field(None, ge=1)
    memory_mb: int | None = Field(1024, ge=16)
    file_size_mb: int | None = Field(1024, ge=0)

    @model_validator(mode="after")
    def _placeholders_declared(self) -> "Job":
        used = {name for part in self.argv for name in PLACEHOLDER.findall(part)}
        missing = used - set(self.params)
        if missing:
            raise ValueError(f"argv uses undeclared parameter(s) {sorted(missing)}")
        return self

    def effective_timeout(self, allowed: float) -> float:
        """What the job gets within a tool call of `allowed` seconds: a second less, so its
        process is killed (and reported) before the executor gives up on the call."""
        return max(1.0, min(self.timeout, allowed - 1))

    def render(self, values: dict[str, str]) -> list[str]:
        """Each placeholder is replaced inside its own argv element: a value can never become
        a second argument, an option of a shell, or anything but text in its place."""
        return [PLACEHOLDER.sub(lambda m: values[m.group(1)], part) for part in self.argv]


class Api(_Strict):
    base_url: str = Field(..., pattern=r"^https?://[^/?#@\s]+(/[^?#\s]*)?$")
    headers: dict[str, str] = {}
    timeout: float = Field(10, gt=0, le=120)
    max_bytes: int = Field(1_000_000, ge=1, le=50_000_000)
    description: str = ""

    def resolved_headers(self) -> dict[str, str]:
        """The headers with each `env:NAME` read now; an unset one refuses the call, since an
        empty `Authorization:` would reach the API as if no secret were needed."""
        return from_env(self.headers, "header")


# [web] and [email]: what fetch_url may reach beside the public internet, and whom
# send_email may write to.
HOST_ENTRY = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(:[0-9]{1,5})?$")


class Web(_Strict):
    allow_hosts: list[str] = []  # host or host:port, exact: private addresses fetch_url may reach

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        out = []
        for host in hosts:
            host = host.strip().lower()
            if not HOST_ENTRY.match(host):
                raise ValueError(f"web.allow_hosts: {host!r} is not a host or host:port "
                                 f"(an IPv6 address goes in brackets: [::1]:8080)")
            out.append(host)
        return out

    def allows(self, host: str, port: int) -> bool:
        """`host` as the URL spells it (lower case, IPv6 in brackets): exact, no resolving."""
        return host in self.allow_hosts or f"{host}:{port}" in self.allow_hosts


class Email(_Strict):
    allow: list[str] = []  # glob patterns on the recipient's address: "*@acme.com"

    def allows(self, address: str) -> bool:
        address = address.strip().lower()
        return any(fnmatch.fnmatchcase(address, pattern.strip().lower()) for pattern in self.allow)


# -- process tools (plugins/process.py, plugins/git.py): [commands], [git], [pip] --------------------------
class Commands(_Strict):
    allow: list[str] = []  # program names run_command may start, found on the sandbox's PATH

    @field_validator("allow")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", name) or name in (".", ".."):
                raise ValueError(f"commands.allow: {name!r} is not a program name (paths are refused)")
        return names


class Git(_Strict):
    remotes: list[str] = []  # glob patterns on the remote URL; http(s) and ssh only
    token: str | None = None  # "env:NAME": read from the environment when git needs it

    @field_validator("token")
    @classmethod
    def _from_env(cls, token: str | None) -> str | None:
        if token is not None and not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", token):
            raise ValueError('git.token must be "env:NAME" (the token is never written in this file)')
        return token

    def resolved_token(self) -> str | None:
        return os.environ.get(self.token[4:]) or None if self.token else None


class Pip(_Strict):
    index_url: str | None = Field(None, pattern=r"^https?://\S+$")
    extra_index_urls: list[str] = []
    trusted_hosts: list[str] = []


# MCP: [mcp.NAME] servers whose tools are offered as `NAME.tool` (see app/mcp/).
#   [mcp.files]                         # a local server over stdio, started in the sandbox
#   command = ["uvx", "mcp-server-files"]
#   tools = ["read_text", "write_text"]  # offered: none unless listed
#   read = ["read_text"]                 # the rest are `write`: a person confirms each call
#   [mcp.wiki]                          # a server over streamable HTTP
#   url = "https://wiki.example/mcp"
#   headers = { Authorization = "env:WIKI_TOKEN" }
MCP_SERVER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class McpServer(_Strict):
    command: list[str] | None = Field(None, min_length=1)
    url: str | None = Field(None, pattern=r"^https?://[^/?#@\s]+(/[^#\s]*)?$")
    headers: dict[str, str] = {}
    env: dict[str, str] = {}  # a command server's environment beyond the scrubbed one; `env:` allowed
    tools: list[str] = []
    read: list[str] = []
    timeout: float = Field(30, gt=0, le=3600)
    description: str = ""

    @model_validator(mode="after")
    def _one_way(self) -> "McpServer":
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server takes either command = [...] (stdio) or url = \"...\" (HTTP)")
        if self.headers and self.url is None:
            raise ValueError("headers go with url")
        unknown = set(self.read) - set(self.tools)
        if unknown:
            raise ValueError(f"read names tools not in tools: {sorted(unknown)}")
        return self

    def resolved_headers(self) -> dict[str, str]:
        return from_env(self.headers, "header")

    def resolved_env(self) -> dict[str, str]:
        return from_env(self.env, "environment variable")


class OperatorConfig(_Strict):
    logs: dict[str, str] = {}
    jobs: dict[str, Job] = {}
    apis: dict[str, Api] = {}
    # process tools
    commands: Commands = Commands()
    git: Git = Git()
    pip: Pip = Pip()

    @field_validator("logs")
    @classmethod
    def _absolute(cls, logs: dict[str, str]) -> dict[str, str]:
        for name, path in logs.items():
            if not os.path.isabs(path):
                raise ValueError(f"logs.{name}: give the log's absolute path")
        return logs

    # the tools for real work: fetch_url's private hosts, send_email's recipients (none
    # when the section is missing)
    web: Web = Web()
    email: Email | None = None

    # MCP: the servers whose tools are offered (app/mcp/)
    mcp: dict[str, McpServer] = {}

    @field_validator("mcp")
    @classmethod
    def _mcp_names(cls, servers: dict[str, McpServer]) -> dict[str, McpServer]:
        for name in servers:
            if not MCP_SERVER_NAME.match(name):
                raise ValueError(f"mcp.{name}: a server's name must match {MCP_SERVER_NAME.pattern}")
        return servers


def load_operator(path: Path) -> OperatorConfig:
    if not path.exists():
        return OperatorConfig()
    try:
        return _load(path.resolve(), path.stat().st_mtime_ns)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise OperatorFileError(f"OPERATOR_FILE {path}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(error_lines(exc, limit=5))
        raise OperatorFileError(f"OPERATOR_FILE {path}: {problems}") from None


def operator_warnings(settings) -> list[str]:
    """What the operator asked for and will not get, one line each: for `llm-planner tools`
    and the checks at start."""
    try:
        config = load_operator(settings.operator_file)
    except OperatorFileError as exc:
        return [str(exc)]
    allowed = settings.max_tool_timeout
    lines = []
    for name, job in sorted(config.jobs.items()):
        gets = job.effective_timeout(allowed)
        if "timeout" not in job.model_fields_set or gets >= job.timeout:
            continue  # the default (60s) is not something the operator asked for
        if job.timeout > allowed:
            lines.append(f"job {name}: timeout {job.timeout:g}s is above MAX_TOOL_TIMEOUT={allowed:g}, "
                         f"it gets {gets:g}s")
        else:
            lines.append(f"job {name}: timeout {job.timeout:g}s leaves no second to spare under "
                         f"MAX_TOOL_TIMEOUT={allowed:g}, it gets {gets:g}s")
    return lines


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> OperatorConfig:  # re-read when the file changes
    return OperatorConfig.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
