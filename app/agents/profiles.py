"""Agent profiles: AGENTS_FILE (TOML), or the one implicit `default` agent when there is no
file. A bad file is one line naming the file, the line and the field: `serve` and `worker`
stop on it rather than run with agents nobody declared."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT = "default"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class AgentsFileError(Exception):
    """One line: what is wrong and where."""


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field("", max_length=2000)
    provider: Literal["ollama", "openai", "anthropic"] | None = None
    model: str | None = Field(None, min_length=1, max_length=200)
    base_url: str | None = Field(None, pattern=r"^https?://")
    api_key: str | None = Field(None, pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$")
    prompt: str | None = None  # relative to the file's folder
    tools: tuple[str, ...] | None = None  # None: every tool
    min_complexity: int = Field(1, ge=1, le=10)
    max_complexity: int = Field(10, ge=1, le=10)
    max_tasks: int | None = Field(None, ge=1, le=1000)  # None: the workers' slots bound it
    port: int | None = Field(None, ge=1, le=65535)
    workspace: Path | None = None
    prompt_text: str = ""  # the prompt file's text, read once at load

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "discover":  # /api/agents/discover is a route of its own
            raise ValueError("`discover` is reserved; name the agent otherwise")
        return value

    @field_validator("tools")
    @classmethod
    def _unique(cls, value):
        return tuple(dict.fromkeys(value)) if value is not None else None

    @model_validator(mode="after")
    def _range(self):
        if self.min_complexity > self.max_complexity:
            raise ValueError("min_complexity is above max_complexity")
        return self

    def takes(self, complexity: int) -> bool:
        return self.min_complexity <= complexity <= self.max_complexity

    def key(self) -> str | None:
        """The API key its `api_key = "env:NAME"` names, read now (never stored elsewhere)."""
        if not self.api_key:
            return None
        return os.environ.get(self.api_key.removeprefix("env:"))

    @property
    def own_model(self) -> bool:
        return bool(self.provider or self.model or self.base_url or self.api_key)


@dataclass(frozen=True)
class Profiles:
    agents: dict[str, Profile]  # by name, in name order
    source: Path | None  # the file, or None for the implicit default

    def names(self) -> list[str]:
        return list(self.agents)

    def get(self, name: str) -> Profile | None:
        return self.agents.get(name)


def implicit() -> Profiles:
    return Profiles({DEFAULT: Profile(name=DEFAULT, description="The service's own model, prompt and tools")},
                    None)


def load_profiles(path: Path, known_tools: list[str] | None = None) -> Profiles:
    """The profiles of `path`, or the implicit `default` when it does not exist. Raises
    AgentsFileError with one line for anything wrong, unknown tools included."""
    if not path.exists():
        return implicit()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgentsFileError(f"AGENTS_FILE {path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentsFileError(f"AGENTS_FILE {path}: cannot be read ({exc})") from None
    extra = sorted(set(data) - {"agents"})
    if extra:
        raise AgentsFileError(f"AGENTS_FILE {path}, line {_line(text, None, extra[0])}: unknown section "
                              f"{extra[0]!r}; profiles go under [agents.NAME]")
    tables = data.get("agents", {})
    if not isinstance(tables, dict) or not tables:
        raise AgentsFileError(f"AGENTS_FILE {path}: declares no agent; add an [agents.NAME] table")
    agents: dict[str, Profile] = {}
    for name in sorted(tables):
        fields = tables[name]
        if not isinstance(fields, dict):
            raise AgentsFileError(f"AGENTS_FILE {path}, line {_line(text, None, name)}: agents.{name} "
                                  "must be a table")
        try:
            profile = Profile(name=name, **fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else "name"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            raise AgentsFileError(f"AGENTS_FILE {path}, line {_line(text, name, field)}: "
                                  f"agents.{name}.{field}: {message}") from None
        except TypeError as exc:  # a field named twice, `name` given as a field
            raise AgentsFileError(f"AGENTS_FILE {path}, line {_line(text, name, None)}: agents.{name}: "
                                  f"{exc}") from None
        if known_tools is not None and profile.tools is not None:
            unknown = [tool for tool in profile.tools if tool not in known_tools]
            if unknown:
                raise AgentsFileError(f"AGENTS_FILE {path}, line {_line(text, name, 'tools')}: agents.{name}."
                                      f"tools: no tool named {unknown[0]!r}")
        if profile.prompt:
            prompt_path = (path.parent / profile.prompt)
            try:
                prompt_text = prompt_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AgentsFileError(f"AGENTS_FILE {path}, line {_line(text, name, 'prompt')}: agents.{name}."
                                      f"prompt: {prompt_path} cannot be read ({exc.__class__.__name__})") from None
            profile = profile.model_copy(update={"prompt_text": prompt_text.strip()})
        if profile.workspace is not None and not profile.workspace.is_absolute():
            profile = profile.model_copy(update={"workspace": path.parent / profile.workspace})
        agents[name] = profile
    ports = [p.port for p in agents.values() if p.port]
    if len(ports) != len(set(ports)):
        twice = next(p for p in ports if ports.count(p) > 1)
        raise AgentsFileError(f"AGENTS_FILE {path}: port {twice} is given to two agents")
    return Profiles(agents, path)


def _line(text: str, agent: str | None, field: str | None) -> int:
    """Where `field` of [agents.AGENT] is (or the table's header, or the file's first line)."""
    lines = text.splitlines()
    start = 0
    if agent is not None:
        header = re.compile(rf"^\s*\[\s*agents\s*\.\s*[\"']?{re.escape(agent)}[\"']?\s*\]")
        for number, line in enumerate(lines):
            if header.match(line):
                start = number
                break
    if field is not None:
        key = re.compile(rf"^\s*[\"']?{re.escape(field)}[\"']?\s*=|^\s*\[\s*{re.escape(field)}\b")
        for number in range(start, len(lines)):
            if number > start and lines[number].lstrip().startswith("[") and agent is not None:
                break
            if key.match(lines[number]):
                return number + 1
    return start + 1
