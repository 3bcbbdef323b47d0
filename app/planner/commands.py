"""Messages the service answers without the model: confirm/cancel and /commands."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# A long token has no spaces; a short code may be typed as "ABCD EFGH".
CONFIRM = re.compile(r"^\s*(confirm|confirmar|cancel|cancelar)\s+([\w.\-]+(?: [\w\-]+)?)\s*$",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Resolution:
    action: str  # "confirm" | "cancel"
    token: str


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, str]


class CommandSyntaxError(ValueError):
    pass


def parse_resolution(text: str) -> Resolution | None:
    match = CONFIRM.match(text)
    if not match:
        return None
    word = match.group(1).lower()
    return Resolution("confirm" if word.startswith("confirm") else "cancel", match.group(2))


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


# Anything shaped like a confirmation token: a signed one (three dot-separated base64url
# parts) or a short code. JWTs in a log are masked too, which is no loss to the model.
# Linear time on any text: a match may only start where a run of token characters starts,
# and the runs are taken whole (possessive), so a 10,000-character word costs one pass,
# not one pass per position in it.
TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{16,}+"
    r"|\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")


def mask_tokens(text: str) -> str:
    """What the model may see of any text: no live token, whoever put it there."""
    return TOKEN_SHAPES.sub("[token]", text)


def redact(text: str) -> str:
    """What history keeps of a confirm/cancel message: never the live token."""
    resolution = parse_resolution(text)
    return f"{resolution.action} [token]" if resolution else text
