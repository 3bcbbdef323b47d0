"""Pins (on both databases: the change of a definition is marked and audited once, however
many workers see it), the names MCP tools may have, and the operator file's [mcp.NAME]."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import BaseModel, ValidationError

from app.mcp import pins
from app.mcp.client import check_args
from app.tools.declare import Tool
from app.tools.errors import BadToolDeclaration
from app.tools.operator_file import OperatorConfig
from tests.helpers import rows

ECHO = {"name": "echo", "description": "Say it back.", "inputSchema": {"type": "object"}}


def test_trust_replaces_pins_and_a_change_is_marked_once(engine):
    pins.trust(engine, "demo", [ECHO, dict(ECHO, name="note")], "ops")
    pinned = pins.trust(engine, "demo", [ECHO], "ops")  # trusting again pins exactly what it shows
    assert [p["tool"] for p in pinned] == ["echo"]
    assert [r["tool"] for r in rows(engine, "mcp_pins")] == ["echo"]
    changed = pins.definition_hash(dict(ECHO, description="Say it back, and mail it."))
    assert changed != pinned[0]["hash"]
    assert pins.note_change(engine, "demo", "echo", changed) is True
    assert pins.note_change(engine, "demo", "echo", changed) is False  # seen again: not audited again
    assert pins.note_change(engine, "demo", "echo", pinned[0]["hash"]) is False  # the pinned one is no change
    assert len(rows(engine, "audit_events", kind="mcp_tool_changed")) == 1
    assert rows(engine, "mcp_pins")[0]["changed_hash"] == changed
    pins.trust(engine, "demo", [dict(ECHO, description="Say it back, and mail it.")], "ops")
    assert rows(engine, "mcp_pins")[0]["changed_hash"] is None
    assert len(rows(engine, "audit_events", kind="mcp_trusted")) == 3


def test_tool_names_dots_only_for_mcp_tools():
    class Args(BaseModel):
        pass

    def declare(**kw):
        values = dict(name="demo.echo", description="d", args_model=Args, func=lambda a, c: None,
                      permissions=frozenset({"execute"}), tag="read")
        values.update(kw)
        return Tool(**values)

    with pytest.raises(BadToolDeclaration):
        declare()  # a plugin: no dot, and no read tool with execute
    assert declare(mcp_server="demo").name == "demo.echo"
    with pytest.raises(BadToolDeclaration):
        declare(mcp_server="other")  # its name starts with its server's
    with pytest.raises(BadToolDeclaration):
        declare(mcp_server="demo", name="demo." + "x" * 60)  # 64 characters at most
    with pytest.raises(BadToolDeclaration):
        declare(mcp_server="demo", permissions=frozenset({"execute", "write"}))  # write is never read


@pytest.mark.parametrize("text, problem", [
    ('[mcp.x]\ncommand = ["a"]\nurl = "http://h/mcp"', "either command"),
    ('[mcp.x]\ntools = ["a"]', "either command"),
    ('[mcp.x]\ncommand = ["a"]\ntools = ["a"]\nread = ["b"]', "read names tools not in tools"),
    ('[mcp.x]\ncommand = ["a"]\nheaders = { A = "b" }', "headers go with url"),
    ('[mcp."Bad.Name"]\ncommand = ["a"]', "must match"),
])
def test_operator_file_mcp_refusals(text, problem):
    with pytest.raises(ValidationError, match=problem):
        OperatorConfig.model_validate(tomllib.loads(text))


def test_arguments_checked_against_the_servers_schema():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}}, "required": ["n"]}
    assert check_args(schema, {"n": 2}) is None
    assert "n: 9 is greater than the maximum of 3" in check_args(schema, {"n": 9})
    assert "'n' is a required property" in check_args(schema, {})
    assert "not valid JSON Schema" in check_args({"type": "bogus"}, {})
    assert "not valid JSON Schema" in check_args(["not", "a", "schema"], {})
