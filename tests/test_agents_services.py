"""Agent services as real processes on loopback: launch, list, chat, kill -9 and restart,
stop, port reuse, a full port range, a failed start's reason, resources, and nothing left
running after `serve` stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap

import httpx
import pytest

from tests.fake_ollama import FakeOllama
from tests.helpers import ROOT, cli_env, free_port, plan, rows, until, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]

KEY = {"X-API-Key": "agent-key-agent-key"}
ADMIN = {"X-API-Key": "admin-key-admin-key"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


def agents_file(tmp_path, ollama_url: str, fixed_port: int) -> object:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "broken.md").write_text("x")
    path = tmp_path / "agents.toml"
    path.write_text(textwrap.dedent(f"""
        [agents.researcher]
        description = "Finds information"
        base_url = "{ollama_url}"
        tools = ["read_file"]

        [agents.coder]
        description = "Writes code"
        port = {fixed_port}

        [agents.orchestrator]
        description = "Hands work out"

        [agents.broken]
        description = "Its prompt goes missing"
        prompt = "prompts/broken.md"
    """))
    return path


@pytest.fixture
def ollama():
    with FakeOllama() as server:
        yield server


def test_launch_list_chat_restart_stop_and_reuse(make_client, tmp_path, ollama, workspace):
    # A two-port range whose first port another program holds: only one port is free.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    low = holder.getsockname()[1]
    if not _free(low + 1):
        pytest.skip("the port after a free one is taken")
    fixed = free_port()
    client = make_client(agents_file=agents_file(tmp_path, ollama.url, fixed), agent_api_key=KEY["X-API-Key"],
                         admin_api_key=ADMIN["X-API-Key"], log_dir=tmp_path / "logs", agent_port_min=low,
                         agent_port_max=low + 1, agent_startup_timeout=120, agent_shutdown_timeout=5)
    supervisor = client.app.state.runtime.agents.supervisor
    try:
        launched = client.post("/api/launch_agents", headers=ADMIN, json={
            "agents": ["researcher", "coder"], "resources": {"researcher": {"db_password": "hunter2-secret"}}})
        assert launched.status_code == 200, launched.text
        researcher, coder = launched.json()["agents"]
        assert researcher["status"] == "running" and researcher["port"] == low + 1  # the held port skipped
        assert coder["status"] == "running" and coder["port"] == fixed
        url = researcher["url"]
        # Its own service: /, /status, the card, its chat on its own model.
        assert httpx.get(f"{url}/").json()["name"] == "researcher"
        assert httpx.get(f"{url}/status").json()["model_reachable"] is True
        card = httpx.get(f"{url}/.well-known/agent-card.json").json()
        assert card["name"] == "researcher" and [s["id"] for s in card["skills"]] == ["read_file"]
        ollama.reply(plan("Researched."))
        turn = httpx.post(f"{url}/agent", json={"message": "hi", "session_id": "s"}, headers=KEY, timeout=30)
        assert turn.json()["reply"] == "Researched."
        assert httpx.get(f"{url}/status").json()["turns_served"] == 1
        # Resources: a file only its owner reads, named to the process, never in its log, and
        # outside the workspace (where the file tools and the sandbox would reach it).
        resources = tmp_path / "data" / "agents" / "researcher" / ".resources.json"
        assert not (workspace / "agents" / "researcher" / ".resources.json").exists()
        assert json.loads(resources.read_text()) == {"db_password": "hunter2-secret"}
        assert stat.S_IMODE(resources.stat().st_mode) == 0o600
        # Listed the same by any node (the database), and launching again is no error.
        listed = client.get("/api/list_agents", headers=ADMIN).json()["agents"]
        assert {s["name"]: s["status"] for s in listed} == {"researcher": "running", "coder": "running"}
        again = client.post("/api/launch_agents", headers=ADMIN, json={"agents": ["researcher"]}).json()
        assert again["agents"][0]["pid"] == researcher["pid"] and again["agents"][0]["status"] == "running"
        # The range is full: the third says why, and nothing of it runs.
        full = client.post("/api/launch_agents", headers=ADMIN, json={"agents": ["orchestrator"]}).json()
        assert full["agents"][0]["status"] == "failed" and "no free port" in full["agents"][0]["error"]
        # kill -9: started again, on its port, counted.
        os.kill(researcher["pid"], signal.SIGKILL)
        assert until(lambda: _service(client, "researcher")["status"] == "running"
                     and _service(client, "researcher")["pid"] != researcher["pid"], 150)
        restarted = _service(client, "researcher")
        assert restarted["restarts"] == 1 and restarted["port"] == low + 1, (restarted, researcher)
        assert httpx.get(f"{url}/health").status_code == 200
        # Stop: SIGTERM, gone, resources removed; a stop of a stopped agent is no error.
        stopped = client.post("/api/stop_agent?agent_name=researcher", headers=ADMIN).json()["agents"][0]
        assert stopped["status"] == "stopped" and stopped["pid"] is None
        assert not alive(restarted["pid"]) and not resources.exists()
        assert client.post("/api/stop_agent", json={"agents": ["researcher"]},
                           headers=ADMIN).json()["agents"][0]["status"] == "stopped"
        # Launching and stopping are on record, with who asked, and never the resources.
        engine = client.app.state.runtime.engine
        launches = [e["data"] for e in rows(engine, "audit_events", kind="agents_launched")]
        stops = [e["data"] for e in rows(engine, "audit_events", kind="agents_stopped")]
        assert launches[0]["by"] == "admin API" and [a["name"] for a in launches[0]["agents"]] == ["researcher", "coder"]
        assert launches[2]["agents"] == [{"name": "orchestrator", "status": "failed"}]
        assert [a["name"] for s in stops for a in s["agents"]] == ["researcher", "researcher"]
        assert "hunter2-secret" not in json.dumps([e["data"] for e in rows(engine, "audit_events")])
        # Its port is free for the next.
        reused = client.post("/api/launch_agents", headers=ADMIN, json={"agents": ["orchestrator"]}).json()
        assert reused["agents"][0]["status"] == "running" and reused["agents"][0]["port"] == low + 1
        # /shutdown wants the admin key; with it the service stops and is not restarted.
        coder_url = coder["url"]
        assert httpx.post(f"{coder_url}/shutdown").status_code == 401
        assert httpx.post(f"{coder_url}/shutdown", headers=KEY).status_code == 401
        assert httpx.get(f"{coder_url}/health").status_code == 200
        assert httpx.post(f"{coder_url}/shutdown", headers=ADMIN).status_code == 202
        assert until(lambda: _service(client, "coder")["status"] == "stopped", 30)
        assert until(lambda: not alive(coder["pid"]), 10)
        discovered = {s["name"]: s["status"] for s in client.post("/api/agents/discover", headers=ADMIN)
                      .json()["agents"]}
        assert discovered["orchestrator"] == "running" and discovered["coder"] == "stopped"
        logs = client.get("/api/agents/researcher/logs?lines=500", headers=ADMIN).json()["lines"]
        assert any("starting agent researcher" in line for line in logs)
        assert not any("hunter2-secret" in line for line in logs)
        assert (tmp_path / "logs" / "agents" / "researcher.log").exists()
        # Stopped and launched again, an agent takes the lowest free port: its own old one.
        client.post("/api/stop_agent", json={"agents": ["orchestrator"]}, headers=ADMIN)
        again = client.post("/api/launch_agents", headers=ADMIN, json={"agents": ["orchestrator"]}).json()
        assert again["agents"][0]["status"] == "running" and again["agents"][0]["port"] == low + 1, again
        # A service that cannot start says why, from its log.
        client.post("/api/stop_agent", json={"agents": ["orchestrator"]}, headers=ADMIN)
        (tmp_path / "prompts" / "broken.md").unlink()
        broken = client.post("/api/launch_agents", headers=ADMIN, json={"agents": ["broken"]}).json()["agents"][0]
        assert broken["status"] == "failed" and "prompt" in broken["error"] and "cannot be read" in broken["error"]
    finally:
        supervisor.stop_all()
        holder.close()


def test_nothing_is_left_running_after_serve_stops(tmp_path, ollama, backend):
    _, url, _ = backend
    port = free_port()
    low = free_port()
    env = cli_env(DB_URL=url, DATA_DIR=str(tmp_path / "data"), WORKSPACE_ROOT=str(tmp_path / "ws"),
                  AGENTS_FILE=str(agents_file(tmp_path, ollama.url, free_port())), ADMIN_API_KEY=ADMIN["X-API-Key"],
                  AGENT_API_KEY=KEY["X-API-Key"], LOG_DIR=str(tmp_path / "logs"), AGENT_PORT_MIN=str(low),
                  AGENT_PORT_MAX=str(low + 20), OLLAMA_MODEL="test-model", OLLAMA_BASE_URL=ollama.url,
                  TASK_WORKERS="0", AGENT_SHUTDOWN_TIMEOUT="5", CONFIRM_SECRET="test-confirm-secret-long-enough")
    serve = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(serve, port, timeout=120)
        launched = httpx.post(f"http://127.0.0.1:{port}/api/launch_agents", headers=ADMIN,
                              json={"agents": ["researcher"]}, timeout=150).json()["agents"][0]
        assert launched["status"] == "running", launched
        # The CLI lists it from the database.
        listed = subprocess.run([sys.executable, "-m", "app.cli", "agents", "list"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert "researcher" in listed.stdout and "running" in listed.stdout
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        assert until(lambda: not alive(launched["pid"]), 10)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert ROOT


def _service(client, name: str) -> dict:
    return client.get(f"/api/list_agents?name={name}", headers=ADMIN).json()["agents"][0]


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
