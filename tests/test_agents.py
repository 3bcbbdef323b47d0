"""Agent profiles in one process: the file and its refusals, each agent's own model,
prompt and tools, task assignment, the profile routes and their keys, routing a text."""

from __future__ import annotations

import json
import textwrap
import time

import pytest

from app.agents.profiles import AgentsFileError, load_profiles
from tests.fake_ollama import FakeOllama
from tests.helpers import claim_held_while, plan, rows

KEY = {"X-API-Key": "agent-key-agent-key"}
ADMIN = {"X-API-Key": "admin-key-admin-key"}

# Where the database does not matter, SQLite only; assignment and the table run on both.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

THREE = """
[agents.researcher]
description = "Finds information and writes short reports"
model = "research-model"
base_url = "{one}"
prompt = "prompts/researcher.md"
tools = ["read_file", "list_dir"]
min_complexity = 1
max_complexity = 5
max_tasks = 1

[agents.coder]
description = "Writes and changes code"
model = "code-model"
base_url = "{two}"
tools = ["read_file", "write_file"]
min_complexity = 4
max_complexity = 8
max_tasks = 1

[agents.orchestrator]
description = "Splits big work and hands it out"
min_complexity = 9
max_complexity = 10
"""


def write_agents(tmp_path, text: str, prompt: str = "Cite your sources.") -> object:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "researcher.md").write_text(prompt)
    path = tmp_path / "agents.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def two_models():
    with FakeOllama() as one, FakeOllama() as two:
        yield one, two


@pytest.fixture
def agents_client(make_client, tmp_path, two_models):
    one, two = two_models

    def build(text: str | None = None, **overrides):
        path = write_agents(tmp_path, text or THREE.format(one=one.url, two=two.url))
        values = dict(agents_file=path, agent_api_key=KEY["X-API-Key"], admin_api_key=ADMIN["X-API-Key"],
                      log_dir=tmp_path / "logs", task_workers=0, task_poll_sec=0.2, task_lease_sec=5)
        values.update(overrides)
        return make_client(**values)
    return build


def task(client, complexity: int, **body) -> dict:
    payload = {"title": "T", "description": "Do it.", "complexity": complexity, **body}
    response = client.post("/api/tasks", json=payload, headers=KEY)
    assert response.status_code == 201, response.text
    return response.json()


# -- the file ---------------------------------------------------------------------------

def test_no_file_is_one_default_agent(tmp_path):
    profiles = load_profiles(tmp_path / "missing.toml")
    assert profiles.names() == ["default"]
    default = profiles.get("default")
    assert (default.min_complexity, default.max_complexity, default.tools) == (1, 10, None)


@pytest.mark.parametrize("text, where", [
    ('[agents.a]\nmin_complexity = 1\nmax_complexity = 11\n', "line 3: agents.a.max_complexity"),
    ('[agents.a]\ndescription = "x"\n\n[agents.b]\nprovider = "gpt"\n', "line 5: agents.b.provider"),
    ('[agents.a]\ncolour = "red"\n', "line 2: agents.a.colour: unknown field"),
    ('[agents.a]\ntools = ["read_file", "no_such_tool"]\n', "line 2: agents.a.tools: no tool named 'no_such_tool'"),
    ('[agents.a]\napi_key = "sk-plain"\n', "line 2: agents.a.api_key"),
    ('[agents.a]\nprompt = "nowhere.md"\n', "line 2: agents.a.prompt"),
    ('[agents.a\n', "not valid TOML"),
    ('[agents.discover]\n', "line 1: agents.discover.name: `discover` is reserved"),
])
def test_a_bad_file_is_one_line_naming_where(tmp_path, text, where):
    path = tmp_path / "agents.toml"
    path.write_text(text)
    with pytest.raises(AgentsFileError) as caught:
        load_profiles(path, ["read_file", "write_file"])
    message = str(caught.value)
    assert where in message and "\n" not in message and str(path) in message


@pytest.mark.slow  # starts real processes
def test_serve_refuses_a_bad_file(tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT, cli_env
    path = tmp_path / "agents.toml"
    path.write_text('[agents.a]\nmax_tasks = 0\n')
    env = cli_env(AGENTS_FILE=str(path), DB_URL=f"sqlite:///{tmp_path}/x.db", DATA_DIR=str(tmp_path / "d"))
    for command in (["serve", "--port", "1"],):  # `worker` runs the same check first
        done = subprocess.run([sys.executable, "-m", "app.cli", *command], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert "line 2: agents.a.max_tasks" in done.stderr and "Traceback" not in done.stderr


def test_the_table_follows_the_file_and_keeps_a_removed_agent_offline(agents_client, engine, tmp_path, two_models):
    agents_client()
    assert {r["name"]: r["status"] for r in rows(engine, "agents")} == {
        "coder": "available", "orchestrator": "available", "researcher": "available"}
    one, two = two_models
    client = agents_client(THREE.format(one=one.url, two=two.url).split("[agents.orchestrator]")[0])
    runtime = client.app.state.runtime
    assert runtime.agents.names() == ["coder", "researcher"]
    by_name = {r["name"]: r for r in rows(engine, "agents")}
    assert by_name["orchestrator"]["status"] == "offline" and not by_name["orchestrator"]["declared"]
    assert by_name["researcher"]["model"] == "research-model"


# -- each agent's own model, prompt and tools -------------------------------------------

@sqlite_only
def test_two_agents_on_two_models_in_one_process(agents_client, two_models, model):
    one, two = two_models
    one.reply(plan("From the researcher."))
    two.reply(plan("From the coder."))
    model.push(plan("From the service's own model."))
    client = agents_client()
    first = client.post("/agents/researcher/agent", json={"message": "hi", "session_id": "s"}, headers=KEY)
    second = client.post("/agents/coder/agent", json={"message": "hi", "session_id": "s"}, headers=KEY)
    third = client.post("/agents/orchestrator/agent", json={"message": "hi", "session_id": "s"}, headers=KEY)
    assert first.status_code == second.status_code == third.status_code == 200, first.text
    assert first.json()["reply"] == "From the researcher." and first.json()["session_id"] == "s"
    assert second.json()["reply"] == "From the coder."
    assert third.json()["reply"] == "From the service's own model."
    [asked_one] = [r["body"] for r in one.requests if r["path"] == "/api/chat"]
    [asked_two] = [r["body"] for r in two.requests if r["path"] == "/api/chat"]
    assert asked_one["model"] == "research-model" and asked_two["model"] == "code-model"
    system_one, system_two = asked_one["messages"][0]["content"], asked_two["messages"][0]["content"]
    assert "Cite your sources." in system_one and "Cite your sources." not in system_two
    # Each is shown its allowlist only.
    assert "\n- list_dir:" in system_one and "\n- write_file" not in system_one
    assert "\n- write_file" in system_two and "\n- list_dir:" not in system_two


@sqlite_only
def test_a_tool_outside_the_allowlist_is_not_run(agents_client, two_models, workspace, engine):
    one, _ = two_models
    one.reply(plan("Writing.", ("write_file", {"path": "x.txt", "content": "no"})))
    client = agents_client()
    answer = client.post("/agents/researcher/agent", json={"message": "write x", "session_id": "w"},
                         headers=KEY).json()
    assert answer["confirmations"] == []  # nothing parked, nothing to confirm
    assert not (workspace / "x.txt").exists()
    assert not rows(engine, "pending_confirmations")
    assert all(e["status"] != "success" for e in answer["tool_executions"])


@sqlite_only
def test_an_unknown_agent_is_404_everywhere(agents_client):
    client = agents_client()
    assert client.post("/agents/nobody/agent", json={"message": "hi", "session_id": "s"},
                       headers=KEY).status_code == 404
    assert client.get("/api/agents/nobody", headers=KEY).status_code == 404
    assert client.get("/api/agents/nobody/tasks", headers=KEY).status_code == 404
    assert client.get("/agents/nobody/.well-known/agent-card.json").status_code == 404
    assert client.put("/api/agents/nobody/status", json={"status": "offline"}, headers=ADMIN).status_code == 404
    assert client.get("/api/agents/nobody/logs", headers=ADMIN).status_code == 404
    assert client.post("/api/launch_agents", json={"agents": ["nobody"]}, headers=ADMIN).status_code == 404
    response = client.post("/api/tasks", json={"title": "T", "description": "D", "complexity": 2,
                                               "agent": "nobody"}, headers=KEY)
    assert response.status_code == 400


@sqlite_only
def test_agents_are_listed_with_their_state_and_cards(agents_client):
    client = agents_client()
    listed = client.get("/api/agents", headers=KEY).json()["agents"]
    assert [a["name"] for a in listed] == ["coder", "orchestrator", "researcher"]
    researcher = client.get("/api/agents/researcher", headers=KEY).json()
    assert researcher["tools"] == ["list_dir", "read_file"] and researcher["model"] == "research-model"
    assert researcher["status"] == "available" and researcher["service"] is None
    card = client.get("/agents/researcher/.well-known/agent-card.json").json()
    assert card["name"] == "researcher" and card["description"].startswith("Finds")
    assert [s["id"] for s in card["skills"]] == ["list_dir", "read_file"]
    assert card["authentication"]["name"] == "X-API-Key" and card["url"].endswith("/agents/researcher")
    assert client.get("/api/agents").status_code == 401


# -- assignment -------------------------------------------------------------------------

def test_tasks_go_by_complexity_and_max_tasks_then_wait(agents_client, engine):
    client = agents_client()
    first = task(client, 2)
    assert first["agent"] == "researcher" and first["waiting_for"] is None
    assert first["workspace"] == f"agents/researcher/tasks/{first['id']}"
    # 4-5 fits both; the researcher is full (max_tasks 1): the coder takes it.
    second = task(client, 5)
    assert second["agent"] == "coder"
    third = task(client, 4)
    assert third["agent"] is None and third["workspace"] is None and third["status"] == "queued"
    assert "full" in third["waiting_for"] and "coder 1/1" in third["waiting_for"]
    nobody = client.post("/api/tasks", json={"title": "T", "description": "D", "complexity": 3,
                                             "agent": "orchestrator"}, headers=KEY).json()
    assert nobody["agent"] == "orchestrator"  # asked for by name: no range applies
    # A paused task does not count: the researcher takes the waiting one at the next pass.
    assert client.put(f"/api/tasks/{first['id']}/status", json={"status": "paused"},
                      headers=KEY).status_code == 200
    client.app.state.runtime.agents.assigner.assign_waiting()
    third = client.get(f"/api/tasks/{third['id']}", headers=KEY).json()
    assert third["agent"] == "researcher" and third["waiting_for"] is None
    listed = client.get("/api/agents/researcher/tasks", headers=KEY).json()["tasks"]
    assert {t["id"] for t in listed} == {first["id"], third["id"]}


@sqlite_only
def test_an_offline_agent_takes_nothing_until_back(agents_client):
    client = agents_client()
    assert client.put("/api/agents/orchestrator/status", json={"status": "offline"},
                      headers=ADMIN).json()["status"] == "offline"
    waiting = task(client, 10)
    assert waiting["agent"] is None and "offline: orchestrator" in waiting["waiting_for"]
    assert client.put("/api/agents/orchestrator/status", json={"status": "available"},
                      headers=ADMIN).status_code == 200
    client.app.state.runtime.agents.assigner.assign_waiting()
    assert client.get(f"/api/tasks/{waiting['id']}", headers=KEY).json()["agent"] == "orchestrator"


@sqlite_only
def test_no_agent_for_a_complexity_says_so(make_client, tmp_path):
    path = tmp_path / "agents.toml"
    path.write_text('[agents.small]\nmax_complexity = 3\n')
    client = make_client(agents_file=path, agent_api_key=KEY["X-API-Key"])
    waiting = task(client, 7)
    assert waiting["agent"] is None and waiting["waiting_for"].startswith("no agent takes complexity 7")


def test_queued_tasks_are_given_in_priority_order_then_oldest(agents_client):
    client = agents_client()
    task(client, 2)  # the researcher is full now
    low = task(client, 1, priority=0)
    high = task(client, 1, priority=5)
    assert low["agent"] is None and high["agent"] is None
    runtime = client.app.state.runtime
    from app.store.transactions import writing
    from app.tasks import repository
    with writing(runtime.engine) as conn:  # the running one ends
        first = [t for t in runtime.agents.tasks("researcher")][0]
        repository.change(conn, first.id, status="complete")
    runtime.agents.assigner.assign_waiting()
    assert client.get(f"/api/tasks/{high['id']}", headers=KEY).json()["agent"] == "researcher"
    assert client.get(f"/api/tasks/{low['id']}", headers=KEY).json()["agent"] is None


def test_assignment_never_overfills_an_agent_across_runtimes(agents_client, make_client, tmp_path):
    """Two runtimes (as two workers would) assign the same queue at once: max_tasks holds."""
    import threading
    first = agents_client()
    second = agents_client()
    blocker = task(first, 2)  # the researcher is full
    waiting = [task(first, 1) for _ in range(6)]
    assert all(t["agent"] is None for t in waiting)
    with first.app.state.runtime.engine.begin() as conn:
        from app.tasks import repository
        repository.change(conn, blocker["id"], status="complete")
    runtimes = [first.app.state.runtime, second.app.state.runtime]
    threads = [threading.Thread(target=r.agents.assigner.assign_waiting) for r in runtimes * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    given = [first.get(f"/api/tasks/{t['id']}", headers=KEY).json()["agent"] for t in waiting]
    assert given.count("researcher") == 1


def test_a_task_back_in_the_queue_waits_for_room_under_max_tasks(agents_client):
    """Paused, retried or answered, a task goes back to the queue with its agent: a worker
    takes it only when that agent runs fewer than its max_tasks."""
    from app.tasks import queue, repository
    client = agents_client()
    engine = client.app.state.runtime.engine
    running = task(client, 2)
    assert running["agent"] == "researcher"
    back = task(client, 2)
    assert back["agent"] is None  # the researcher (max_tasks 1) is full
    first = queue.claim(engine, "worker-a", 30)
    assert first is not None and first[0].id == running["id"]
    with engine.begin() as conn:  # as a resumed task: queued, its agent kept
        repository.change(conn, back["id"], status="queued", agent="researcher")
    assert queue.claim(engine, "worker-b", 30) is None  # no room: it waits
    with engine.begin() as conn:
        repository.change(conn, running["id"], status="complete", lease_owner=None)
    second = queue.claim(engine, "worker-b", 30)
    assert second is not None and second[0].id == back["id"]


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # two claims at once need row locks
def test_two_claims_at_once_keep_an_agents_max_tasks(agents_client):
    """A claim that read the queue before another worker's claim committed still counts that
    one under the agent's row lock (its transaction reads committed rows, not a snapshot)."""


    from app.tasks import queue, repository
    client = agents_client()
    engine = client.app.state.runtime.engine
    first, second = task(client, 2), task(client, 2)
    assert first["agent"] == "researcher" and second["agent"] is None  # max_tasks 1
    with engine.begin() as conn:  # as a resumed task: queued, its agent kept
        repository.change(conn, second["id"], status="queued", agent="researcher")
    # The late claim has read the queue (before the early one's commit), then waits.
    late, early = claim_held_while(engine, "worker-b", lambda sql: "LIMIT" in sql and "FOR UPDATE" not in sql,
                                   lambda: queue.claim(engine, "worker-a", 30))
    assert early is not None and late is None
    running = [r for r in rows(engine, "tasks") if r["status"] == "running"]
    assert [(r["agent"], r["lease_owner"]) for r in running] == [("researcher", "worker-a")]


@sqlite_only
def test_a_hundred_tasks_no_agent_can_take_do_not_hide_a_later_one(agents_client):
    from app.tasks import repository
    client = agents_client()
    engine = client.app.state.runtime.engine
    assert client.put("/api/agents/coder/status", json={"status": "offline"}, headers=ADMIN).status_code == 200
    running = task(client, 2)  # the researcher (max_tasks 1) is full
    later = task(client, 2)
    stuck = [task(client, 5, agent="coder", priority=1) for _ in range(105)]  # ahead of it in the queue
    assert later["agent"] is None and all(t["agent"] is None for t in stuck)
    with engine.begin() as conn:
        repository.change(conn, running["id"], status="complete")
    client.app.state.runtime.agents.assigner.assign_waiting()
    assert client.get(f"/api/tasks/{later['id']}", headers=KEY).json()["agent"] == "researcher"


@sqlite_only
def test_a_task_runs_with_its_agents_model(agents_client, two_models):
    one, two = two_models
    one.reply(plan("Done.", ("finish_task", {"summary": "researched", "files": []})))
    client = agents_client(task_workers=1)
    created = task(client, 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        current = client.get(f"/api/tasks/{created['id']}", headers=KEY).json()
        if current["status"] == "complete":
            break
        time.sleep(0.1)
    assert current["status"] == "complete" and current["result"]["summary"] == "researched"
    asked = [r["body"] for r in one.requests if r["path"] == "/api/chat"]
    assert asked and asked[0]["model"] == "research-model"
    system = asked[0]["messages"][0]["content"]
    assert "\n- finish_task:" in system and "\n- update_task:" in system  # offered whatever `tools` says
    assert "\n- write_file" not in system
    assert not [r for r in two.requests if r["path"] == "/api/chat"]


# -- admin routes and routing -------------------------------------------------------------

@sqlite_only
@pytest.mark.parametrize("method, path, body", [
    ("put", "/api/agents/researcher/status", {"status": "offline"}),
    ("post", "/api/launch_agents", {"agents": ["researcher"]}),
    ("get", "/api/list_agents", None),
    ("post", "/api/stop_agent", {"agents": ["researcher"]}),
    ("get", "/api/agents/researcher/logs", None),
    ("post", "/api/agents/discover", None),
])
def test_admin_routes_refuse_a_missing_or_wrong_key_and_do_nothing(agents_client, engine, method, path, body):
    client = agents_client()
    for headers in ({}, {"X-API-Key": "wrong"}, KEY):
        kwargs = {"headers": headers} | ({"json": body} if body is not None else {})
        assert getattr(client, method)(path, **kwargs).status_code == 401
    assert {r["name"]: r["status"] for r in rows(engine, "agents")}["researcher"] == "available"
    assert rows(engine, "agent_services") == []


@sqlite_only
def test_route_picks_a_declared_agent_or_falls_back(agents_client, model):
    client = agents_client()
    model.push(json.dumps({"agent": "coder", "reason": "it is code"}))
    assert client.post("/api/route", json={"text": "fix the bug"}, headers=KEY).json() == {
        "agent": "coder", "reason": "it is code"}
    model.push(json.dumps({"agent": "hacker", "reason": "x"}))
    answer = client.post("/api/route", json={"text": "fix the bug"}, headers=KEY).json()
    assert answer["agent"] in ("coder", "orchestrator", "researcher") and "fallback" in answer["reason"]
    model.push("not json at all")
    answer = client.post("/api/route", json={"text": "x"}, headers=KEY).json()
    assert "fallback" in answer["reason"] and "JSON" in answer["reason"]


@sqlite_only
def test_route_when_the_model_is_down_says_so(agents_client, make_settings):
    from app.llm import build_model
    down = build_model(make_settings(ollama_base_url="http://127.0.0.1:9", llm_max_attempts=1,
                                     llm_timeout_sec=1))
    client = agents_client(model_=down)
    answer = client.post("/api/route", json={"text": "x"}, headers=KEY).json()
    assert answer["agent"] in ("coder", "orchestrator", "researcher")
    assert "could not be asked" in answer["reason"]
    instruction = client.post("/api/instructions", json={"text": "make a pdf of it"}, headers=KEY).json()
    assert instruction["text"] == "make a pdf of it" and instruction["agent"] in ("coder", "orchestrator",
                                                                                  "researcher")


@sqlite_only
def test_instructions_are_rewritten_and_routed(agents_client, model):
    client = agents_client()
    model.push("Research topic X and write a one-page report in output/report.md.",
               json.dumps({"agent": "researcher", "reason": "a report"}))
    answer = client.post("/api/instructions", json={"text": "x report pls"}, headers=KEY).json()
    assert answer == {"text": "Research topic X and write a one-page report in output/report.md.",
                      "agent": "researcher"}
