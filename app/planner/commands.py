"""Direct commands: `/tool key=value …`, planned without the model.

A value is one of:
- bare text up to the next space: `path=logs/app.log` (a backslash is an ordinary character);
- double-quoted text, always text, with the escapes `\\n` (newline), `\\t` (tab), `\\\\` and
  `\\"`; any other backslash is kept as it is: `content="one\\ntwo"`;
- single-quoted text, taken exactly as written: `pattern='a\\nb'`;
- JSON, when the value starts with `{` or `[`, bare or in single quotes:
  `params={"label": "daily"}` or `params='["a", "b"]'`.
A dotted key builds an object: `params.label=daily` is `{"params": {"label": "daily"}}`.
Scalars stay strings: the tool's argument model converts them, exactly as for a model's plan.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

KEY = re.compile(r"([\w-]+(?:\.[\w-]+)*)=")
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
MAX_DEPTH = 8  # objects inside objects; deeper ones are refused before anything stores them


class _BadNumber(ValueError):
    pass


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _BadNumber(f"{text[:20]} is too large")
    return number


def _no_constant(name: str):
    raise _BadNumber(f"{name} is not a number JSON allows")


_JSON = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any]


class CommandSyntaxError(ValueError):
    pass


def command_name(text: str) -> str | None:
    """The first word after the `/`, read before (and whatever) its arguments."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    words = stripped[1:].split(None, 1)
    return words[0] if words else None


def parse_command(text: str) -> Command | None:
    """`/read_file path=app.log max_lines=20` → Command('read_file', {...})."""
    name = command_name(text)
    if name is None:
        if text.strip().startswith("/"):
            raise CommandSyntaxError("empty command")
        return None
    rest = text.strip()[1:].lstrip()[len(name):]
    args: dict[str, Any] = {}
    given: list[tuple[str, ...]] = []
    pos = _skip_space(rest, 0)
    while pos < len(rest):
        match = KEY.match(rest, pos)
        if not match:
            raise CommandSyntaxError(f"expected key=value, got {_word(rest, pos)!r}")
        key, pos = match.group(1), match.end()
        value, pos = _value(rest, pos, key)
        if pos < len(rest) and not rest[pos].isspace():
            raise CommandSyntaxError(f"{key}: unexpected {rest[pos:pos + 20]!r} after the value")
        _put(args, given, key, value)
        pos = _skip_space(rest, pos)
    return Command(name, args)


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _word(text: str, pos: int) -> str:
    end = pos
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[pos:end][:40]


def _value(text: str, pos: int, key: str) -> tuple[Any, int]:
    if text.startswith(("{", "["), pos):
        return _json(text[pos:], key, pos)
    if text.startswith(("'{", "'["), pos):
        end = text.find("'", pos + 1)
        if end < 0:
            raise CommandSyntaxError(f"{key}: a ' quote is not closed")
        value, used = _json(text[pos + 1:end], key, 0)
        if pos + 1 + used != end:
            raise CommandSyntaxError(f"{key}: unexpected text after the JSON value")
        return value, end + 1
    return _text(text, pos, key)


def _json(text: str, key: str, offset: int) -> tuple[Any, int]:
    try:
        value, end = _JSON.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise CommandSyntaxError(f"{key}: invalid JSON ({exc.msg} at character {exc.pos + 1})") from None
    except _BadNumber as exc:
        raise CommandSyntaxError(f"{key}: invalid JSON ({exc})") from None
    except ValueError:  # Python's cap on the digits of an integer
        raise CommandSyntaxError(f"{key}: invalid JSON (a number is too long)") from None
    except RecursionError:
        raise CommandSyntaxError(f"{key}: the JSON value is nested too deep") from None
    if _too_deep(value, 1):
        raise CommandSyntaxError(f"{key}: the JSON value is nested too deep (at most {MAX_DEPTH} levels)")
    return value, offset + end


def _too_deep(value: Any, depth: int) -> bool:
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    if children and depth > MAX_DEPTH:
        return True
    return any(_too_deep(child, depth + 1) for child in children)


def _text(text: str, pos: int, key: str) -> tuple[str, int]:
    """Bare, "double-quoted" and 'single-quoted' pieces, up to the next unquoted space."""
    out: list[str] = []
    while pos < len(text) and not text[pos].isspace():
        quote = text[pos]
        if quote == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                raise CommandSyntaxError(f"{key}: a ' quote is not closed")
            out.append(text[pos + 1:end])
            pos = end + 1
        elif quote == '"':
            pos += 1
            while True:
                if pos >= len(text):
                    raise CommandSyntaxError(f'{key}: a " quote is not closed')
                char = text[pos]
                if char == '"':
                    pos += 1
                    break
                if char == "\\" and text[pos + 1:pos + 2] in ESCAPES:
                    out.append(ESCAPES[text[pos + 1]])
                    pos += 2
                    continue
                out.append(char)
                pos += 1
        else:
            out.append(quote)
            pos += 1
    return "".join(out), pos


def _put(args: dict, given: list[tuple[str, ...]], key: str, value: Any) -> None:
    path = tuple(key.split("."))
    if len(path) > MAX_DEPTH:
        raise CommandSyntaxError(f"{key}: too many dots (at most {MAX_DEPTH - 1})")
    for other in given:
        shorter = min(len(other), len(path))
        if other[:shorter] == path[:shorter]:
            clash = ".".join(other)
            said = f"as {clash} and as {key}" if clash != key else "twice"
            raise CommandSyntaxError(f"{'.'.join(path[:shorter])} is given {said}")
    given.append(path)
    node = args
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
