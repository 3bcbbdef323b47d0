"""MCP as a server: the official clients (the current line, and a 1.x one as a real
subprocess) against our POST /mcp on a real `serve` with two workers, and `mcp serve` over
stdio. Read tools run; write tools park, the client cannot approve them; a person does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.helpers import CLI, TEST_SECRET, cli_env, free_port, wait_healthy
from tests.mcp_servers import mcp1_python as mcp1_python_made

SERVERS = Path(__file__).parent / "mcp_servers"
KEY = "mcp-test-key"
OTHER_KEY = "mcp-other-key-0123456789"
pytestmark = pytest.mark.slow


def _setting_up(root: Path) -> dict:
    (root / "workspace").mkdir()
    (root / "workspace" / "hello.txt").write_text("hi")
    env = cli_env(DB_URL=f"sqlite:///{root}/agent.db", AGENT_API_KEY=KEY, CONFIRM_SECRET=TEST_SECRET,
                  WORKSPACE_ROOT=str(root / "workspace"), API_KEYS=f"other:{OTHER_KEY}")
    return {"root": root, "env": env}


@pytest.fixture
def served(tmp_path):
    """A real `serve` with two workers (the endpoint is stateless: either answers any request).
    One test uses it, so that pytest-xdist starts it once."""
    setup = _setting_up(tmp_path)
    root, env = setup["root"], setup["env"]
    port = free_port()
    proc = subprocess.Popen(CLI + ["serve", "--port", str(port), "--workers", "2"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(proc, port, timeout=90)
        yield {"url": f"http://127.0.0.1:{port}/mcp", "root": root, "env": env}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def mcp1_python():
    try:
        return mcp1_python_made()
    except RuntimeError as exc:
        pytest.fail(str(exc))


async def _session(url: str, key: str, work):
    async with httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
            return await work(client)


def _payload(result) -> dict | str:
    text = result.content[0].text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _operator(served, *args) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + list(args), cwd=served["root"], env=served["env"], capture_output=True, text=True,
                          timeout=90)


def test_over_http_the_current_client_reads_parks_and_cannot_approve_and_a_1x_client_works(served, mcp1_python):
    async def work(client):
        tools = {t.name: t for t in (await client.list_tools()).tools}
        listed = await client.call_tool("list_dir", {"path": "."})
        parked = await client.call_tool("write_file", {"path": "out.txt", "content": "written"})
        bad = await client.call_tool("write_file", {"path": "out.txt"})
        unknown = await client.call_tool("confirm", {"id": 1})
        return tools, listed, parked, bad, unknown

    tools, listed, parked, bad, unknown = anyio.run(_session, served["url"], KEY, work)
    assert {"list_dir", "read_file", "write_file", "get_confirmation"} <= set(tools)
    assert not {"remember", "recall", "forget", "create_task"} & set(tools)
    assert "path" in tools["write_file"].input_schema["properties"]
    assert not listed.is_error and "hello.txt" in listed.content[0].text
    body = _payload(parked)
    assert not parked.is_error and body["status"] == "pending_confirmation" and "out.txt" in body["preview"]
    assert "token" not in body and not (served["root"] / "workspace" / "out.txt").exists()
    assert bad.is_error and "content" in bad.content[0].text
    assert unknown.is_error  # there is no tool that approves

    def state():
        return anyio.run(_session, served["url"], KEY,
                         lambda c: c.call_tool("get_confirmation", {"id": body["id"]}))
    assert _payload(state())["state"] == "pending"
    # Another client's key does not learn of it (ids are sequential: they could be walked).
    other = anyio.run(_session, served["url"], OTHER_KEY, lambda c: c.call_tool("get_confirmation", {"id": body["id"]}))
    assert other.is_error and "no MCP call was parked" in other.content[0].text

    approved = _operator(served, "confirm", str(body["id"]), "--by", "alice")
    assert approved.returncode == 0, approved.stderr
    assert (served["root"] / "workspace" / "out.txt").read_text() == "written"
    after = _payload(state())
    assert after["state"] == "approved" and after["decided_by"] == "alice"
    assert after["result"]["status"] == "success"
    again = _operator(served, "confirm", str(body["id"]))
    assert again.returncode == 1 and "already" in again.stderr

    declined = _payload(anyio.run(_session, served["url"], KEY, lambda c: c.call_tool(
        "write_file", {"path": "no.txt", "content": "never"})))
    assert _operator(served, "confirmations", "cancel", str(declined["id"]), "--by", "bob").returncode == 0
    rejected = _payload(anyio.run(_session, served["url"], KEY, lambda c: c.call_tool(
        "get_confirmation", {"id": declined["id"]})))
    assert rejected["state"] == "rejected" and rejected["decided_by"] == "bob"
    assert not (served["root"] / "workspace" / "no.txt").exists()

    # A wrong or missing key: 401, and nothing parked or run.
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "write_file", "arguments": {"path": "evil.txt", "content": "x"}}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    for key in ("wrong", None):
        sent = dict(headers, **({"X-API-Key": key} if key else {}))
        response = httpx.post(served["url"], json=message, headers=sent, timeout=30)
        assert response.status_code == 401
    listing = _operator(served, "confirmations", "list", "--all")
    assert "evil.txt" not in listing.stdout
    assert not (served["root"] / "workspace" / "evil.txt").exists()
    with pytest.raises(Exception):
        anyio.run(_session, served["url"], "wrong", lambda c: c.list_tools())

    # A client on the 1.x line, as a real process.
    ran = subprocess.run([str(mcp1_python), str(SERVERS / "client_v1.py"), served["url"], KEY],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    got = json.loads(ran.stdout.strip().splitlines()[-1])
    assert "list_dir" in got["tools"] and "get_confirmation" in got["tools"]
    assert not got["list_dir_error"] and "hello.txt" in got["list_dir"][0]
    assert not got["parked_error"] and got["parked"]["status"] == "pending_confirmation"
    assert not (served["root"] / "workspace" / "v1.txt").exists()


def test_mcp_serve_over_stdio(tmp_path):
    served = _setting_up(tmp_path)
    env = {k: v for k, v in served["env"].items() if k != "AGENT_API_KEY"}

    async def work():
        params = StdioServerParameters(command=sys.executable, args=["-m", "app.cli", "mcp", "serve"], env=env,
                                       cwd=str(served["root"]))
        async with Client(params, cache=None) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            listed = await client.call_tool("list_dir", {"path": "."})
            return names, listed

    names, listed = anyio.run(work)
    assert "write_file" in names and "create_task" not in names
    assert "hello.txt" in listed.content[0].text
    assert os.environ.get("AGENT_API_KEY") != KEY
