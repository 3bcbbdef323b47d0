"""Direct commands as a user types them: objects, lists, escapes, refusals; and the CLI's
own command-line checks."""

import subprocess

import pytest
from pydantic import Field

from app.audit.kinds import AuditKind
from app.tools import ToolArgs, tool
from app.tools.registry import load_registry
from tests.helpers import CLI, chat, cli_env, rows


class EchoArgs(ToolArgs):
    text: str = ""
    params: dict[str, str | int | bool | list[int]] = Field(default_factory=dict)
    items: list[str] = Field(default_factory=list)


@tool(permissions=["read"], tag="read")
def echo(args: EchoArgs, ctx) -> dict:
    """Give the arguments back."""
    return args.model_dump()


@pytest.fixture
def echo_client(make_client):
    registry = load_registry()
    registry.add(echo, "test")
    return make_client(registry=registry)


def echoed(client, message: str) -> dict:
    body = chat(client, message)
    [execution] = body["tool_executions"]
    assert execution["status"] == "success", body
    return execution["output"]


def test_dotted_keys_build_an_object(echo_client):
    out = echoed(echo_client, "/echo params.label=daily params.when=now text=x")
    assert out["params"] == {"label": "daily", "when": "now"} and out["text"] == "x"


@pytest.mark.parametrize("message", [
    """/echo params='{"label": "daily", "n": 3, "ok": true, "ids": [1, 2]}' items='["a", "b c"]'""",
    """/echo params={"label": "daily", "n": 3, "ok": true, "ids": [1, 2]} items=["a", "b c"]""",
])
def test_json_values_bare_or_in_single_quotes(echo_client, message):
    out = echoed(echo_client, message)
    assert out["params"] == {"label": "daily", "n": 3, "ok": True, "ids": [1, 2]}
    assert out["items"] == ["a", "b c"]


def test_double_quotes_are_text_with_escapes(echo_client):
    assert echoed(echo_client, r'/echo text="one\ntwo\tthree \\ \"four\" \d"')["text"] == \
        'one\ntwo\tthree \\ "four" \\d'
    assert echoed(echo_client, '/echo text="[draft] {notes}"')["text"] == "[draft] {notes}"
    assert echoed(echo_client, r"/echo text='as\nis'")["text"] == r"as\nis"
    assert echoed(echo_client, "/echo text=C:\\tmp")["text"] == "C:\\tmp"


def test_escaped_newlines_write_a_two_line_file(client, workspace):
    body = chat(client, r'/write_file path=a.txt content="first line\nsecond line\n"')
    [confirmation] = body["confirmations"]
    assert confirmation["args"]["content"] == "first line\nsecond line\n"
    chat(client, f"confirm {confirmation['token']}")
    assert (workspace / "a.txt").read_text().splitlines() == ["first line", "second line"]


@pytest.mark.parametrize("message,says", [
    ("/echo text=a text=b", "text is given twice"),
    ("/echo params={} params.a=b", "params is given as params and as params.a"),
    ("/echo params.a=b params.a=c", "params.a is given twice"),
    ("/echo params={label: daily}", "params: invalid JSON"),
    ("/echo params='{\"a\": NaN}'", "params: invalid JSON"),
    ("/echo items=[1e999]", "items: invalid JSON"),
    ("/echo items=[" + "9" * 5_000 + "]", "items: invalid JSON"),
    ("/echo items=" + "[" * 9_000, "nested too deep"),
    ("/echo items=" + "[" * 20 + "]" * 20, "nested too deep"),
    ("/echo " + ".".join("a" * 20) + "=x", "too many dots"),
    ("/echo items=[1]x", "unexpected"),
    ('/echo text="open', "quote is not closed"),
    ("/echo text='open", "quote is not closed"),
    ("/echo -rf", "expected key=value"),
    ("/", "empty command"),
])
def test_what_cannot_be_read_is_refused(echo_client, engine, message, says):
    body = chat(echo_client, message)
    assert body["status"] == "error" and body["tool_executions"] == []
    assert body["reply"].startswith("Could not read that command:") and says in body["reply"], body["reply"]
    assert rows(engine, "audit_events", kind="command_rejected")


@pytest.mark.parametrize("message", ["/rm -rf /", "/rm path=.", '/shutdown now "', "/drop items=[[["])
def test_unknown_command_is_named_before_its_arguments_are_read(client, message):
    body = chat(client, message)
    assert body["status"] == "tool_error" and body["tool_executions"][0]["status"] == "blocked"
    assert body["reply"].startswith("Unknown command /") and "Could not read" not in body["reply"]


@pytest.mark.slow
def test_audit_tail_with_an_unknown_kind_names_the_kinds(tmp_path):
    env = cli_env(DB_URL=f"sqlite:///{tmp_path}/agent.db")
    subprocess.run(CLI + ["migrate"], env=env, capture_output=True, check=True, timeout=60)
    bad = subprocess.run(CLI + ["audit", "tail", "--kind", "tool_call"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "tool_call" in bad.stderr
    assert all(kind.value in bad.stderr for kind in AuditKind)
    good = subprocess.run(CLI + ["audit", "tail", "--kind", "tool_execution"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert good.returncode == 0, good.stderr
