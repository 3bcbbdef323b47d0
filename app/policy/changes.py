"""`policy grant` and `policy revoke`, for the CLI and the console alike: checked, kept in
the database, audited with their author. Every node applies them within CHANGES_TTL_SEC."""

from __future__ import annotations

import re

from sqlalchemy.engine import Engine

from app.policy import repository
from app.tools.policy import CHANNELS, Change, Subject

ACTIONS = ("grant", "revoke")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class BadChange(ValueError):
    pass


def make_change(engine: Engine, action: str, subject: Subject, name: str, tool: str, by: str) -> int:
    """Keep one change; its id. BadChange, with what to do, for input that cannot be one."""
    name, tool, by = name.strip(), tool.strip(), by.strip()
    if action not in ACTIONS:
        raise BadChange(f"unknown action {action!r}; use grant or revoke")
    if not name or len(name) > 255:
        raise BadChange(f"name the {subject.value.rstrip('s')} (1 to 255 characters)")
    if subject is Subject.CHANNEL and name not in CHANNELS:
        raise BadChange(f"unknown channel {name!r}; use {', '.join(CHANNELS)}")
    if not TOOL_NAME.match(tool):
        raise BadChange(f"{tool!r} is not a tool name")
    if not by or len(by) > 128:
        raise BadChange("say who makes the change (--by NAME, 1 to 128 characters)")
    return repository.add(engine, Change(action, subject, name, tool), by)
