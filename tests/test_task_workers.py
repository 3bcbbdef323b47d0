"""Real `llm-planner worker` processes sharing one database: a queue drained once, and a
worker killed (-9) in the middle of a confirmed call, whose task another worker finishes
without running the call again."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.fake_ollama import FakeOllama
from tests.helpers import CLI, cli_env, rows, until

pytestmark = pytest.mark.slow  # each test starts real processes
KEY = {"X-API-Key": "task-key"}


def _worker(tmp_path, env, name):
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(CLI + ["worker", "--slots", "1"], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)



def _plan(*calls) -> str:
    return json.dumps({"reply": "step", "tool_calls": [{"tool": t, "args": a} for t, a in calls], "facts": {}})


def _stop(*procs):
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # SKIP LOCKED, two processes at once
def test_two_workers_drain_a_queue_each_task_once(backend, engine, make_client, workspace, tmp_path):
    _, url, _ = backend
    client = make_client(agent_api_key="task-key", task_workers=0)
    ids = [client.post("/api/tasks", json={"title": f"t{n}", "description": f"task number {n}",
                                           "complexity": 2, "priority": n % 3}, headers=KEY).json()["id"]
           for n in range(12)]
    with FakeOllama() as ollama:
        ollama.responder = lambda body: _plan(
            ("write_file", {"path": "output/done.txt", "content": "done"}),
            ("finish_task", {"summary": "done", "files": ["output/done.txt"]}))
        env = cli_env(DB_URL=url, OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="test-model", CONFIRM_SECRET="k",
                      WORKSPACE_ROOT=str(workspace), TASK_LEASE_SEC="5", TASK_POLL_SEC="0.2")
        workers = [_worker(tmp_path, env, f"w{n}") for n in range(2)]
        try:
            # Both up before the queue can drain: under load one worker alone may finish all twelve.
            assert until(lambda: all("task slot(s)" in (tmp_path / f"w{n}.log").read_text() for n in range(2)))
            assert until(lambda: all(r["status"] == "complete" for r in rows(engine, "tasks"))), \
                [r["status"] for r in rows(engine, "tasks")]
        finally:
            _stop(*workers)
    for task_id in ids:
        assert len(rows(engine, "task_steps", task_id=task_id)) == 1
        steps = [u for u in rows(engine, "task_updates", task_id=task_id) if u["update_type"] == "step"]
        assert len(steps) == 1
    assert len(ollama.requests) == 12  # one plan per task: none was run twice
    assert [w.returncode for w in workers] == [0, 0], [(tmp_path / f"w{n}.log").read_text() for n in range(2)]


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_a_worker_killed_during_a_confirmed_call_is_never_run_twice(backend, engine, make_client, workspace,
                                                                    tmp_path):
    _, url, _ = backend
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    marks = tmp_path / "marks.txt"
    (plugins / "slow.py").write_text(
        "import time\n"
        "from app.tools import ToolArgs, tool\n"
        "class A(ToolArgs):\n    pass\n"
        "@tool(permissions=['write'], tag='write', timeout=120)\n"
        "def slow_write(args: A, ctx):\n"
        "    'Appends a mark, then takes its time.'\n"
        f"    open({str(marks)!r}, 'a').write('ran\\n')\n"
        "    time.sleep(60)\n"
        "    return {}\n")
    client = make_client(agent_api_key="task-key", task_workers=0, plugins_dir=plugins, confirm_secret="k")
    task = client.post("/api/tasks", json={"title": "slow", "description": "do the slow thing", "complexity": 2},
                       headers=KEY).json()

    def respond(body):
        shown = body["messages"][0]["content"]
        if "no step yet" in shown:
            return _plan(("slow_write", {}))
        return _plan(("finish_task", {"summary": "interrupted, stopped", "files": []}))

    with FakeOllama() as ollama:
        ollama.responder = respond
        env = cli_env(DB_URL=url, OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="test-model", CONFIRM_SECRET="k",
                      WORKSPACE_ROOT=str(workspace), TASK_LEASE_SEC="5", TASK_POLL_SEC="0.2",
                      PLUGINS_DIR=str(plugins), MAX_TOOL_TIMEOUT="120")
        first = _worker(tmp_path, env, "first")
        second = None
        try:
            assert until(lambda: client.get(f"/api/tasks/{task['id']}", headers=KEY).json()["status"]
                          == "awaiting_confirmation")
            [parked] = client.get(f"/api/tasks/{task['id']}", headers=KEY).json()["confirmations"]
            assert client.post(f"/api/tasks/{task['id']}/confirm", json={"token": parked["token"]},
                               headers=KEY).status_code == 200
            assert until(lambda: marks.exists())  # the call is running in the first worker
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            second = _worker(tmp_path, env, "second")
            assert until(lambda: client.get(f"/api/tasks/{task['id']}", headers=KEY).json()["status"]
                          == "complete")
        finally:
            _stop(*([second] if second else []))
            if first.poll() is None:
                first.kill()
    assert marks.read_text() == "ran\n"  # once, never again
    updates = client.get(f"/api/tasks/{task['id']}/updates", headers=KEY).json()["updates"]
    assert any(u["data"].get("status") == "interrupted" for u in updates)
    assert "interrupted" in ollama.requests[-1]["body"]["messages"][0]["content"]
    [call] = rows(engine, "task_calls", task_id=task["id"])
    assert call["status"] == "interrupted"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the commands, not the database
def test_task_commands_from_the_terminal(backend, engine, workspace, tmp_path):
    """task add | list | show | watch | cancel, against the database, with a worker process."""
    _, url, _ = backend
    with FakeOllama() as ollama:
        ollama.responder = lambda body: _plan(
            ("update_task", {"stage": "build", "progress": 50, "note": "halfway"}),
            ("finish_task", {"summary": "all done", "files": []}))
        env = cli_env(DB_URL=url, OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="test-model", CONFIRM_SECRET="k",
                      WORKSPACE_ROOT=str(workspace), TASK_POLL_SEC="0.2")
        run = lambda *args: subprocess.run(CLI + ["task", *args], cwd=tmp_path, env=env, capture_output=True,  # noqa: E731
                                           text=True, timeout=60)
        added = run("add", "Tidy", "--description", "Tidy the folder.", "--complexity", "2")
        assert added.returncode == 0, added.stderr
        task_id = added.stdout.strip()
        assert task_id in run("list").stdout
        assert run("add", "x", "--description", "y", "--complexity", "11").returncode == 2  # one clear line
        worker = _worker(tmp_path, env, "w")
        try:
            watched = run("watch", task_id)
        finally:
            _stop(worker)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "halfway" in watched.stdout and "all done" in watched.stdout and "100 %" in watched.stdout
    shown = json.loads(run("show", task_id).stdout)
    assert shown["status"] == "complete" and shown["result"]["summary"] == "all done"
    other = run("add", "Later", "--description", "Not now.", "--complexity", "1").stdout.strip()
    assert run("cancel", other).stdout.strip() == "cancelled"
    assert run("cancel", other).returncode == 1  # a cancelled task cannot be cancelled again (409)
    assert run("show", "nope").returncode == 2
