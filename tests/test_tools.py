"""The executor and the base tools: allowlist, arguments, permissions, limits, the workspace."""

import os
import subprocess
import sys
import time

import httpx
import pytest
from pydantic import Field

from app.tools import ToolArgs, tool
from app.tools.registry import ToolRegistry, load_registry
from tests.helpers import CLI, chat, cli_env, free_port, plan, rows, wait_healthy


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP SECRET")
    return secret


TRAVERSALS = ["../outside/secret.txt", "../../etc/passwd", "/etc/passwd", "a/../../outside/secret.txt",
              "~/secret.txt", "./../outside/secret.txt", "logs/../../outside/secret.txt"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_read_outside_workspace_is_refused(client, path, outside):
    body = chat(client, f"/read_file path={path}")
    [execution] = body["tool_executions"]
    assert execution["status"] == "error" and "workspace" in execution["error"]
    assert "TOP SECRET" not in str(body) and "root:" not in str(body)


def test_symlink_out_of_workspace_is_refused(client, workspace, outside):
    (workspace / "link.txt").symlink_to(outside)
    (workspace / "dirlink").symlink_to(outside.parent)
    for command in ("/read_file path=link.txt", "/list_dir path=dirlink", "/read_file path=dirlink/secret.txt"):
        body = chat(client, command)
        assert body["tool_executions"][0]["status"] == "error", command
        assert "TOP SECRET" not in str(body) and "secret.txt" not in str(body["tool_executions"][0]["output"])


def test_write_outside_workspace_is_refused_before_parking(client, model, workspace, outside, engine):
    (workspace / "out").symlink_to(outside.parent)
    model.push(plan("x", ("write_file", {"path": "../outside/new.txt", "content": "x"}),
                    ("write_file", {"path": "out/secret.txt", "content": "pwned"}),
                    ("write_file", {"path": "/tmp/evil", "content": "x"})))
    body = chat(client, "write")
    assert [e["status"] for e in body["tool_executions"]] == ["error"] * 3
    assert body["confirmations"] == [] and rows(engine, "pending_confirmations") == []
    assert outside.read_text() == "TOP SECRET" and not (outside.parent / "new.txt").exists()


def test_direct_commands(client, workspace, model):
    (workspace / "logs").mkdir()
    (workspace / "logs" / "app.log").write_text("".join(f"line {i}\n" for i in range(50)))

    listing = chat(client, "/list_dir path=logs")
    head = chat(client, "/read_file path=logs/app.log max_lines=20")
    tools = chat(client, "/tools")
    help_ = chat(client, "/help")

    assert listing["status"] == "success" and "app.log" in listing["reply"]
    out = head["tool_executions"][0]["output"]
    assert out["lines"] == 20 and out["truncated"] is True and "line 19" in head["reply"] and "line 20" not in head["reply"]
    for name in ("health_check", "list_dir", "read_file", "write_file", "register_customer"):
        assert f"/{name}" in tools["reply"]
    assert "confirm <token>" in help_["reply"]
    assert model.calls == []  # planned without the model


def test_direct_write_command_is_parked(client, workspace):
    body = chat(client, '/write_file path=a.txt content="hello world"')
    assert body["status"] == "awaiting_confirmation"
    assert body["confirmations"][0]["args"] == {"path": "a.txt", "content": "hello world"}
    assert not (workspace / "a.txt").exists()
    chat(client, f"confirm {body['confirmations'][0]['token']}")
    assert (workspace / "a.txt").read_text() == "hello world"


def test_write_preview_is_a_diff(client, workspace):
    (workspace / "a.txt").write_text("one\ntwo\n")
    body = chat(client, '/write_file path=a.txt content="one\nthree\n"')
    preview = body["confirmations"][0]["preview"]
    assert "-two" in preview and "+three" in preview


def test_unknown_tool_and_bad_arguments(client, engine):
    unknown = chat(client, "/rm path=.")
    bad = chat(client, "/read_file path=a.txt max_lines=5000")
    smuggled = chat(client, "/list_dir path=. cmd=whoami")
    assert unknown["status"] == "tool_error" and unknown["tool_executions"][0]["status"] == "blocked"
    assert "Unknown command /rm" in unknown["reply"]
    assert "max_lines" in bad["tool_executions"][0]["error"]
    assert "cmd" in smuggled["tool_executions"][0]["error"] and smuggled["tool_executions"][0]["output"] is None
    executions = rows(engine, "audit_events", kind="tool_execution")
    assert [e["data"]["status"] for e in executions] == ["blocked", "error", "error"]


def test_health_check(client):
    body = chat(client, "/health_check")
    out = body["tool_executions"][0]["output"]
    assert body["status"] == "success"
    assert {"cpu_percent", "memory", "disk", "uptime_sec", "platform"} <= set(out)
    assert out["memory"]["total_mb"] > 0


def test_register_customer_twice_is_a_clear_error(client, model, engine):
    for _ in range(2):
        body = chat(client, "/register_customer name=Ana email=ANA@example.com")
        done = chat(client, f"confirm {body['confirmations'][0]['token']}")
    assert done["status"] == "tool_error" and "already exists" in done["reply"]
    [customer] = rows(engine, "customers")
    assert customer["email"] == "ana@example.com" and customer["name"] == "Ana"


def test_bad_email_is_refused(client, engine):
    body = chat(client, "/register_customer name=Ana email=not-an-email")
    assert body["tool_executions"][0]["status"] == "error" and rows(engine, "pending_confirmations") == []


class SlowArgs(ToolArgs):
    seconds: float = Field(1, ge=0, le=10)


@tool(permissions=["read"], tag="read")
def slow(args: SlowArgs, ctx) -> dict:
    """Sleep."""
    time.sleep(args.seconds)
    return {"slept": args.seconds}


@tool(permissions=["read"], tag="read")
def chatty(args: SlowArgs, ctx) -> dict:
    """Say a lot."""
    return {"text": "y" * 50_000}


@tool(permissions=["read"], tag="read")
def broken(args: SlowArgs, ctx) -> dict:
    """Fail."""
    raise KeyError("secret internals")


def test_timeout_output_cap_and_crash_do_not_stop_other_calls(make_client, model, workspace):
    registry = load_registry()
    for extra in (slow, chatty, broken):
        registry.add(extra, "test")
    client = make_client(registry=registry, max_tool_timeout=0.3, max_output_size=1000)
    model.push(plan("x", ("slow", {"seconds": 2}), ("chatty", {}), ("broken", {}), ("list_dir", {})))

    body = chat(client, "go")

    slow_, chatty_, broken_, listed = body["tool_executions"]
    assert slow_["status"] == "error" and "timed out" in slow_["error"] and slow_["duration_ms"] < 1500
    assert chatty_["status"] == "success" and chatty_["output"]["truncated"] is True
    assert len(chatty_["output"]["text"]) == 1000
    assert broken_["status"] == "error" and "secret internals" not in broken_["error"]
    assert listed["status"] == "success" and body["status"] == "tool_error"


def test_blocked_permissions_refuse_everywhere(make_client, model):
    @tool(permissions=["network"], tag="read")
    def fetch(args: SlowArgs, ctx) -> dict:
        """Fetch."""
        raise AssertionError("must never run")

    client = make_client(registry=ToolRegistry([fetch]))
    model.push(plan("x", ("fetch", {})))
    assert chat(client, "x")["tool_executions"][0]["status"] == "blocked"
    assert chat(client, "/fetch")["tool_executions"][0]["status"] == "blocked"


def test_list_dir_marks_symlinks_and_folders(client, workspace):
    (workspace / "d").mkdir()
    (workspace / "f").write_text("abc")
    os.symlink("f", workspace / "l")
    entries = chat(client, "/list_dir")["tool_executions"][0]["output"]["entries"]
    assert entries == [{"name": "d", "type": "dir", "size": None}, {"name": "f", "type": "file", "size": 3},
                       {"name": "l", "type": "symlink", "size": None}]


def test_missing_paths_say_they_do_not_exist(client, workspace):
    (workspace / "file.txt").write_text("x")
    (workspace / "folder").mkdir()
    said = {command: chat(client, command)["tool_executions"][0] for command in (
        "/list_dir path=nope", "/read_file path=nope.txt", "/list_dir path=file.txt", "/read_file path=folder",
        "/read_file path=" + "n" * 300)}
    assert all(execution["status"] == "error" for execution in said.values())
    assert said["/list_dir path=nope"]["error"] == "'nope' does not exist"
    assert said["/read_file path=nope.txt"]["error"] == "'nope.txt' does not exist"
    assert said["/list_dir path=file.txt"]["error"] == "'file.txt' is not a folder"
    assert said["/read_file path=folder"]["error"] == "'folder' is not a file"
    assert "internal error" not in said["/read_file path=" + "n" * 300]["error"]


@pytest.mark.parametrize("data,says", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "is a binary file"),
    ("café au lait\n".encode("latin-1"), "is not UTF-8 text"),
])
def test_read_file_refuses_binary_files(client, workspace, data, says):
    (workspace / "blob").write_bytes(data)
    body = chat(client, "/read_file path=blob")
    [execution] = body["tool_executions"]
    assert body["status"] == "tool_error" and execution["status"] == "error" and says in execution["error"]
    assert execution["output"] is None and "\ufffd" not in body["reply"]


def test_read_file_reads_utf8_text(client, workspace):
    (workspace / "notes.txt").write_text("café ñandú 🚀\n", encoding="utf-8")
    assert chat(client, "/read_file path=notes.txt")["tool_executions"][0]["output"]["content"] == "café ñandú 🚀\n"


def test_write_preview_marks_a_missing_final_newline(client, workspace):
    (workspace / "a.txt").write_text("one\ntwo")
    preview = chat(client, '/write_file path=a.txt content="one\ntwo\nthree\n"')["confirmations"][0]["preview"]
    body = preview.splitlines()[2:]  # after the ---/+++ header
    assert "-two" in body and "+two" in body and "+three" in body, preview
    assert "\\ No newline at end of file" in body
    assert all(line[:1] in " +-@\\" for line in body), preview


@pytest.mark.slow
def test_health_check_reads_the_cpu_on_the_first_call_of_a_process(tmp_path):
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # one core certainly busy
    port = free_port()
    server = subprocess.Popen(CLI + ["serve", "--port", str(port)], cwd=tmp_path,
                              env=cli_env(DB_URL=f"sqlite:///{tmp_path}/agent.db"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(server, port)
        body = httpx.post(f"http://127.0.0.1:{port}/agent", json={"message": "/health_check", "session_id": "h"},
                          timeout=30).json()
    finally:
        for proc in (server, busy):
            proc.kill()
            proc.wait(timeout=10)
    assert body["tool_executions"][0]["output"]["cpu_percent"] > 0
