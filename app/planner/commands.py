"""Direct commands: `/tool key=value …`, planned without the model."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, str]


class CommandSyntaxError(ValueError):
    pass


def parse_command(text: str) -> Command | None:
    """`/read_file path=app.log max_lines=20` → Command('read_file', {...}); values stay
    strings and the tool's argument model converts them, exactly as for a model's plan."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    try:
        words = shlex.split(stripped[1:])
    except ValueError as exc:
        raise CommandSyntaxError(str(exc)) from None
    if not words:
        raise CommandSyntaxError("empty command")
    name, args = words[0], {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise CommandSyntaxError(f"expected key=value, got {word!r}")
        args[key] = value
    return Command(name, args)
