"""MCP as a client: the operator file's servers (small ones written here, tests/mcp_servers/,
over stdio and streamable HTTP) offered as `NAME.tool`, pinned, and every fault a clean tool
error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.mcp import pins
from tests.helpers import CLI, TEST_SECRET, chat, cli_env, free_port, plan, rows
from tests.mcp_servers import in_sandbox, mcp1_python

SERVERS = Path(__file__).parent / "mcp_servers"
DEMO_TOOLS = ["echo", "note", "big", "fail", "die", "hang", "odd"]
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]


def operator_file(tmp_path: Path, extra: str = "", sandboxed_in: Path | None = None) -> Path:
    """demo and junk as command servers: started by this Python (SANDBOX=none), or, with
    `sandboxed_in` (the workspace), copied there with the `mcp` package and started inside
    the sandbox by its python3."""
    if sandboxed_in is not None:
        env = in_sandbox(sandboxed_in)
        demo, junk = '["python3", "demo.py"]', '["python3", "garbage.py"]'
    else:
        env = ""
        demo = f"[{sys.executable!r}, {str(SERVERS / 'demo.py')!r}]"
        junk = f"[{sys.executable!r}, {str(SERVERS / 'garbage.py')!r}]"
    path = tmp_path / "operator.toml"
    path.write_text(f"""
[mcp.demo]
command = {demo}
tools = {DEMO_TOOLS!r}
read = ["echo", "big", "fail", "die", "hang", "odd"]
timeout = 3
{env}

[mcp.junk]
command = {junk}
tools = ["echo"]
read = ["echo"]
timeout = 2
{env}
""" + extra)
    return path


def call(client, model, tool: str, args: dict, session_id: str = "s1") -> dict:
    model.push(plan("Calling.", (tool, args)))
    answer = chat(client, f"call {tool}", session_id=session_id)
    return answer["tool_executions"][0] if answer["tool_executions"] else answer


@pytest.fixture
def operator_cli(backend, tmp_path, workspace):
    _, url, _ = backend

    # A sandboxed server sees the system's directories and the workspace, not the service's
    # environment: the suite's servers and the `mcp` package are copied into the workspace
    # (operator_file's `sandboxed_in`).
    def run(*args, operator: Path, sandbox: str = "bwrap"):
        return subprocess.run(CLI + list(args), cwd=tmp_path, capture_output=True, text=True, timeout=90,
                              env=cli_env(DB_URL=url, WORKSPACE_ROOT=str(workspace), OPERATOR_FILE=str(operator),
                                          SANDBOX=sandbox, CONFIRM_SECRET=TEST_SECRET, BLOCKED_PERMISSIONS=""))
    return run


def test_stdio_server_trusted_pinned_and_every_fault_a_clean_error(make_client, model, engine, tmp_path,
                                                                    workspace, operator_cli):
    operator = operator_file(tmp_path, sandboxed_in=workspace)
    # Blocked by default: a command server needs `execute`.
    blocked = make_client(operator_file=operator)
    refused = call(blocked, model, "demo.echo", {"text": "hi"})
    assert refused["status"] == "blocked" and "execute" in refused["error"]

    client = make_client(operator_file=operator, blocked_permissions="")
    untrusted = call(client, model, "demo.echo", {"text": "hi"})
    assert untrusted["status"] == "blocked" and "mcp trust demo" in untrusted["error"]

    trusted = operator_cli("mcp", "trust", "demo", "--by", "ops", operator=operator)
    assert trusted.returncode == 0, trusted.stderr
    assert "demo.echo  [read]  sha256 " in trusted.stdout and "Say the text back." in trusted.stdout
    assert "not valid JSON Schema" in trusted.stdout  # odd's schema, said when pinned
    assert {r["tool"] for r in rows(engine, "mcp_pins")} == set(DEMO_TOOLS)
    listed = operator_cli("tools", operator=operator)  # the catalogue shows them as `serve` offers them
    assert "demo.echo  tag=read  permissions=execute" in listed.stdout and "Say the text back." in listed.stdout
    assert "demo.note  tag=write  permissions=execute,write" in listed.stdout
    assert "junk.echo  tag=read" in listed.stdout and "[not trusted" in listed.stdout.split("junk.echo")[1]

    ran = call(client, model, "demo.echo", {"text": "hi"})
    assert ran["status"] == "success" and "echo: hi" in str(ran["output"])
    first_run = str(ran["output"]).split("run ")[1]
    again = call(client, model, "demo.echo", {"text": "again"})
    assert str(again["output"]).split("run ")[1] == first_run  # one session, kept

    # The server's own schema checks the arguments before anything is sent.
    bad = call(client, model, "demo.note", {"text": "x" * 200})
    assert bad["status"] == "error" and "maxLength 100" in bad["error"]
    assert not (workspace / "notes.txt").exists()
    # A tool not in `read` is a write: parked, and runs once confirmed.
    model.push(plan("Noting.", ("demo.note", {"text": "remember me"})))
    parked = chat(client, "note it")
    assert parked["status"] == "awaiting_confirmation" and not (workspace / "notes.txt").exists()
    done = chat(client, f"confirm {parked['confirmations'][0]['token']}")
    assert done["tool_executions"][0]["status"] == "success", done
    assert (workspace / "notes.txt").read_text() == "remember me\n"

    big = call(client, model, "demo.big", {})
    assert big["status"] == "error" and "MAX_OUTPUT_SIZE" in big["error"]
    failed = call(client, model, "demo.fail", {})
    assert failed["status"] == "error" and "the disk is on fire" in failed["error"]
    odd = call(client, model, "demo.odd", {"x": 1})
    assert odd["status"] == "error" and "not valid JSON Schema" in odd["error"]
    died = call(client, model, "demo.die", {})
    assert died["status"] == "error" and "demo" in died["error"]
    restarted = call(client, model, "demo.echo", {"text": "back"})
    assert restarted["status"] == "success" and str(restarted["output"]).split("run ")[1] != first_run
    started = time.monotonic()
    hung = call(client, model, "demo.hang", {})
    assert hung["status"] == "error" and "did not answer within 3s" in hung["error"]
    assert time.monotonic() - started < 15
    assert call(client, model, "demo.echo", {"text": "after"})["status"] == "success"

    # A changed definition: that tool refused and audited once; the others go on.
    (workspace / "echo_description.txt").write_text("Say the text back, and also send it elsewhere.")
    changed = call(client, model, "demo.echo", {"text": "hi"})
    assert changed["status"] == "error" and "changed since it was trusted" in changed["error"]
    again = call(client, model, "demo.echo", {"text": "hi"})
    assert again["status"] == "blocked" and "changed since it was trusted" in again["error"]
    assert len(rows(engine, "audit_events", kind="mcp_tool_changed")) == 1
    assert call(client, model, "demo.fail", {})["error"].endswith("the disk is on fire")
    status = operator_cli("mcp", "status", operator=operator)
    assert status.returncode == 2 and "demo.echo  [read]  CHANGED since trusted" in status.stdout
    assert "demo.note  [write]  trusted by ops" in status.stdout
    assert "junk.echo  [read]  not trusted" in status.stdout
    assert operator_cli("mcp", "trust", "demo", operator=operator).returncode == 0
    assert call(client, model, "demo.echo", {"text": "ok"})["status"] == "success"

    # A server that cannot start: trusting it fails in one line, nothing pinned.
    missing = operator_file(tmp_path, '[mcp.gone]\ncommand = ["/nonexistent/server"]\ntools = ["x"]\n',
                            sandboxed_in=workspace)
    gone = operator_cli("mcp", "trust", "gone", operator=missing)
    assert gone.returncode == 1 and "gone" in gone.stderr and "Traceback" not in gone.stderr
    assert not rows(engine, "mcp_pins", server="gone")
    # Garbage on the wire (pinned by hand: it could never be trusted): a clean error in time.
    pins.trust(engine, "junk", [{"name": "echo", "description": "", "inputSchema": {"type": "object"}}], "test")
    quick = make_client(operator_file=operator, blocked_permissions="", max_tool_timeout=4)
    started = time.monotonic()
    garbage = call(quick, model, "junk.echo", {})
    assert garbage["status"] == "error" and "MCP server junk did not start" in garbage["error"], garbage
    assert time.monotonic() - started < 10
    still = call(client, model, "demo.echo", {"text": "still"})
    assert still["status"] == "success", still["error"]


def test_http_server_with_env_headers(make_client, model, engine, tmp_path, monkeypatch):
    port = free_port()
    server = subprocess.Popen([sys.executable, str(SERVERS / "demo.py"), str(port), "s3cret"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        operator = operator_file(tmp_path, f"""
[mcp.web]
url = "http://127.0.0.1:{port}/mcp"
headers = {{ Authorization = "env:DEMO_TOKEN" }}
tools = ["echo", "note"]
read = ["echo"]
""")
        monkeypatch.delenv("DEMO_TOKEN", raising=False)
        client = make_client(sandbox="none", operator_file=operator, blocked_permissions="execute")
        runtime = client.app.state.runtime
        assert "web.echo" in runtime.registry.names()
        server_config = runtime.mcp.servers()["web"]
        monkeypatch.setenv("DEMO_TOKEN", "Bearer s3cret")
        live = runtime.mcp.connections.list_tools("web", server_config, 10)
        pins.trust(engine, "web", [d for d in live if d["name"] in ("echo", "note")], "test")
        ran = call(client, model, "web.echo", {"text": "over http"})
        assert ran["status"] == "success" and "echo: over http" in str(ran["output"])
        runtime.mcp.connections.close()
        monkeypatch.setenv("DEMO_TOKEN", "Bearer wrong")
        refused = call(client, model, "web.echo", {"text": "x"})
        assert refused["status"] == "error" and "web" in refused["error"]
        # Blocked `network`: refused before anything is sent.
        blocked = make_client(sandbox="none", operator_file=operator)
        assert call(blocked, model, "web.echo", {"text": "x"})["status"] == "blocked"
    finally:
        server.terminate()
        server.wait(10)
    assert os.environ.get("DEMO_TOKEN") == "Bearer wrong"


def test_a_server_on_the_1x_line(make_client, model, engine, tmp_path, operator_cli):
    try:
        python = mcp1_python()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    operator = operator_file(tmp_path, f"""
[mcp.old]
command = [{str(python)!r}, {str(SERVERS / 'demo_v1.py')!r}]
tools = ["shout"]
read = ["shout"]
""")
    trusted = operator_cli("mcp", "trust", "old", operator=operator, sandbox="none")
    assert trusted.returncode == 0 and "old.shout  [read]" in trusted.stdout, trusted.stderr
    # Outside the sandbox (SANDBOX=none: nothing contains the server) its `read` tool asks
    # for a person's confirmation like a write: nothing is sent to the server before it.
    client = make_client(sandbox="none", operator_file=operator, blocked_permissions="")
    model.push(plan("Shouting.", ("old.shout", {"text": "hello"})))
    parked = chat(client, "shout hello")
    assert parked["status"] == "awaiting_confirmation"
    assert [e["status"] for e in parked["tool_executions"]] == ["pending_confirmation"]
    assert rows(engine, "audit_events", kind="tool_execution") == []
    ran = chat(client, f"confirm {parked['confirmations'][0]['token']}")["tool_executions"][0]
    assert ran["status"] == "success" and "HELLO" in str(ran["output"]), ran


def test_a_command_server_runs_in_the_sandbox(make_client, model, backend, tmp_path, workspace, operator_cli):
    """A stdio server (standard library only, so it runs on the system's python3) asked to
    read the service's database and its environment from inside: it is not root, sees
    neither, and its tools still answer."""
    _, url, _ = backend
    secret_file = Path(url.removeprefix("sqlite:///"))
    assert secret_file.is_file()
    (workspace / "raw_server.py").write_text((SERVERS / "raw_stdio.py").read_text())
    operator = tmp_path / "operator.toml"
    operator.write_text('[mcp.raw]\ncommand = ["python3", "raw_server.py"]\ntools = ["probe"]\nread = ["probe"]\n')
    trusted = operator_cli("mcp", "trust", "raw", "--by", "ops", operator=operator, sandbox="bwrap")
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    client = make_client(operator_file=operator, blocked_permissions="")
    ran = call(client, model, "raw.probe", {"path": str(secret_file)})
    assert ran["status"] == "success", ran
    seen = str(ran["output"])
    assert "uid=0 " not in seen and "uid=" in seen
    assert "read=refused" in seen  # the database file is not there inside
    assert "CONFIRM_SECRET" not in seen and TEST_SECRET not in seen
    own = call(client, model, "raw.probe", {"path": "raw_server.py"})  # its own folder: the workspace
    assert own["status"] == "success" and "read=ok" in str(own["output"])
