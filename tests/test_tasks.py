"""Tasks end to end over HTTP, with in-process task slots and the scripted model."""

from __future__ import annotations

import time

import pytest

from app.tasks.states import TaskStatus
from tests.helpers import claim_held_while, plan, rows

KEY = {"X-API-Key": "task-key"}


def create(client, **body) -> dict:
    payload = {"title": "Report", "description": "Write a short report on X.", "complexity": 3, **body}
    response = client.post("/api/tasks", json=payload, headers=KEY)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(client, task_id: str, *statuses: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/api/tasks/{task_id}", headers=KEY).json()
        if task["status"] in statuses:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task stayed {task['status']}: {task}")


def test_a_task_runs_its_steps_and_completes(tasks_client, model, workspace, engine):
    model.push(plan("Designing.", ("update_task", {"stage": "design", "progress": 50, "note": "outline"}),
                    ("write_file", {"path": "output/report.md", "content": "# X\nfine\n"})),
               plan("Done.", ("finish_task", {"summary": "Wrote the report.", "files": ["output/report.md"]})))
    client = tasks_client()
    task = create(client)
    assert task["status"] in ("queued", "running") and task["agent"] == "default"
    assert task["workspace"] == f"agents/default/tasks/{task['id']}"
    done = wait_for(client, task["id"], "complete", "failed")
    assert done["status"] == "complete", done
    assert done["stage"] == "complete" and done["steps"] == 2
    assert done["result"] == {"summary": "Wrote the report.", "files": ["output/report.md"]}
    folder = workspace / task["workspace"]
    assert (folder / "output" / "report.md").read_text() == "# X\nfine\n"  # no confirmation inside its folder
    assert {"src", "output", "research", "README.md"} <= {p.name for p in folder.iterdir()}
    assert "Report" in (folder / "README.md").read_text()
    # The title and description reach the model verbatim, every step; earlier results follow.
    assert all("Write a short report on X." in call["messages"][-1]["content"] for call in model.calls)
    assert "output/report.md" in model.calls[1]["messages"][0]["content"]
    updates = client.get(f"/api/tasks/{task['id']}/updates", headers=KEY).json()["updates"]
    kinds = [u["update_type"] for u in updates]
    assert kinds.count("step") == 2 and "progress_update" in kinds and "tool_execution" in kinds
    assert kinds[-1] == "status_change" and updates[-1]["content"] == "complete"
    # Each update is on record with the task's id: its own event (a tool execution), or a task_update.
    audited = [e for e in rows(engine, "audit_events", session_id=task["id"])
               if e["kind"] in ("task_update", "tool_execution")]
    assert len(audited) == len(updates)
    assert len(rows(engine, "task_steps", task_id=task["id"])) == 2


def test_paused_while_the_model_plans_no_tool_of_that_plan_runs(tasks_client, model, workspace):
    client = tasks_client()

    def plans_while_a_person_pauses(messages, schema):
        # (the service's own call, as the route makes it: the test client is not for two
        # threads, and the slot may plan before create() has returned the id)
        tasks = client.app.state.runtime.tasks
        [running], _ = tasks.page(status="running", stage=None, agent=None, limit=5, cursor=None)
        tasks.change_status(running.id, TaskStatus.PAUSED, by="alice")
        return plan("Writing.", ("write_file", {"path": "output/late.txt", "content": "x"}))

    model.push(plans_while_a_person_pauses)
    task = create(client)
    paused = wait_for(client, task["id"], "paused")
    time.sleep(0.5)  # the step that was planning is stored by now
    assert not (workspace / paused["workspace"] / "output" / "late.txt").exists()
    updates = client.get(f"/api/tasks/{task['id']}/updates", headers=KEY).json()["updates"]
    assert "tool_execution" not in [u["update_type"] for u in updates]


def test_paused_and_resumed_mid_step_no_one_else_takes_it_until_that_step_ends(tasks_client, model, engine):
    """Resumed, a task is queued again while the slot that ran it is still inside its step:
    that slot's lease is renewed until it lets the task go, so no other worker can take the
    task and run beside it; then the task goes on and finishes, each step once."""
    from app.tasks import queue
    client = tasks_client(task_lease_sec=5)
    tasks = client.app.state.runtime.tasks
    seen: dict = {}

    def a_long_step_a_person_pauses_and_resumes(messages, schema):
        [running], _ = tasks.page(status="running", stage=None, agent=None, limit=5, cursor=None)
        tasks.change_status(running.id, TaskStatus.PAUSED, by="alice")
        tasks.change_status(running.id, TaskStatus.QUEUED, by="alice")
        time.sleep(6.5)  # past the lease the slot was given when it claimed the task
        seen["other worker"] = queue.claim(engine, "another-worker", 30)
        return plan("Looked.", ("list_dir", {"path": "."}))

    model.push(a_long_step_a_person_pauses_and_resumes,
               plan("Finished.", ("finish_task", {"summary": "done", "files": []})))
    task = create(client)
    done = wait_for(client, task["id"], "complete", timeout=30)
    assert seen["other worker"] is None
    assert done["steps"] == 2 and len(rows(engine, "task_steps", task_id=task["id"])) == 2


def test_a_write_outside_the_folder_waits_for_a_person(tasks_client, model, engine):
    model.push(plan("Registering.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})),
               plan("Finished.", ("finish_task", {"summary": "Registered Ana.", "files": []})))
    client = tasks_client()
    task = create(client)
    parked = wait_for(client, task["id"], "awaiting_confirmation")
    [confirmation] = parked["confirmations"]
    assert confirmation["tool_name"] == "register_customer" and rows(engine, "customers") == []
    bad = client.post(f"/api/tasks/{task['id']}/confirm", json={"token": confirmation["token"] + "x"}, headers=KEY)
    assert bad.status_code == 400 and rows(engine, "customers") == []
    ok = client.post(f"/api/tasks/{task['id']}/confirm", json={"token": confirmation["token"]}, headers=KEY)
    assert ok.status_code == 200, ok.text
    done = wait_for(client, task["id"], "complete", "failed")
    assert done["status"] == "complete" and len(rows(engine, "customers")) == 1
    again = client.post(f"/api/tasks/{task['id']}/confirm", json={"token": confirmation["token"]}, headers=KEY)
    assert again.status_code == 409 and len(rows(engine, "customers")) == 1
    # The model was told the call ran before it planned again.
    assert "confirmed and run" in model.calls[1]["messages"][0]["content"]


def test_a_declined_call_is_told_to_the_model(tasks_client, model, engine):
    model.push(plan("Registering.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})),
               plan("Ok, not registering.", ("finish_task", {"summary": "Declined.", "files": []})))
    client = tasks_client()
    task = create(client)
    [confirmation] = wait_for(client, task["id"], "awaiting_confirmation")["confirmations"]
    assert client.post(f"/api/tasks/{task['id']}/cancel", json={"token": confirmation["token"]},
                       headers=KEY).status_code == 200
    done = wait_for(client, task["id"], "complete", "failed")
    assert done["status"] == "complete" and rows(engine, "customers") == []
    assert "declined by the person" in model.calls[1]["messages"][0]["content"]


def test_the_step_budget_fails_the_task_and_says_so(tasks_client, model):
    model.repeat_last = True
    model.push(plan("Thinking.", ("update_task", {"stage": "design", "progress": 10, "note": ""})))
    client = tasks_client(task_max_steps=3)
    failed = wait_for(client, create(client)["id"], "failed", "complete")
    assert failed["status"] == "failed" and "TASK_MAX_STEPS" in failed["error"] and failed["steps"] == 3


def test_a_plan_that_never_validates_fails_the_task(tasks_client, model):
    model.push("nonsense", "still nonsense", "no json")
    client = tasks_client()
    failed = wait_for(client, create(client)["id"], "failed", "complete")
    assert "valid plan" in failed["error"]


def test_status_changes_and_refusals(tasks_client, model, engine):
    client = tasks_client(task_workers=0)  # nobody runs it: the queue holds it
    task = create(client)
    assert client.put(f"/api/tasks/{task['id']}/status", json={"status": "queued"}, headers=KEY).status_code == 409
    paused = client.put(f"/api/tasks/{task['id']}/status", json={"status": "paused"}, headers=KEY)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert client.put(f"/api/tasks/{task['id']}/status", json={"status": "running"}, headers=KEY).status_code == 422
    resumed = client.put(f"/api/tasks/{task['id']}/status", json={"status": "queued"}, headers=KEY)
    assert resumed.json()["status"] == "queued"
    cancelled = client.put(f"/api/tasks/{task['id']}/status", json={"status": "cancelled"}, headers=KEY)
    assert cancelled.json()["status"] == "cancelled"
    assert client.put(f"/api/tasks/{task['id']}/status", json={"status": "paused"}, headers=KEY).status_code == 409
    assert client.get("/api/tasks/nope", headers=KEY).status_code == 404
    assert client.get(f"/api/tasks/{task['id']}").status_code == 401
    assert client.post("/api/tasks", json={"title": "x", "description": "y", "complexity": 11},
                       headers=KEY).status_code == 422
    assert client.post("/api/tasks", json={"title": "x", "description": "y", "complexity": 1, "agent": "ghost"},
                       headers=KEY).status_code == 400
    statuses = [u["data"]["status"] for u in
                client.get(f"/api/tasks/{task['id']}/updates", headers=KEY).json()["updates"]]
    assert statuses == ["queued", "paused", "queued", "cancelled"]


def test_tasks_routes_answer_503_without_a_key(make_client):
    client = make_client(task_workers=0)
    assert client.get("/api/tasks").status_code == 503


def test_task_files_stay_in_the_task_folder(tasks_client, workspace):
    client = tasks_client(task_workers=0)
    one, two = create(client), create(client)
    put = client.put(f"/api/tasks/{one['id']}/files/research/input.txt", content=b"data", headers=KEY)
    assert put.status_code == 201
    assert client.get(f"/api/tasks/{one['id']}/files/research/input.txt", headers=KEY).content == b"data"
    listing = client.get(f"/api/tasks/{one['id']}/files", params={"path": "research"}, headers=KEY).json()
    assert [e["name"] for e in listing["entries"]] == ["input.txt"]
    other = f"../{two['id']}/research/input.txt"
    for path in (other, "../../../../etc/passwd", "%2e%2e/%2e%2e/secret"):
        assert client.get(f"/api/tasks/{one['id']}/files/{path}", headers=KEY).status_code == 404
    escaped = client.put(f"/api/tasks/{two['id']}/files/..%2F{one['id']}%2Fresearch%2Finput.txt",
                         content=b"evil", headers=KEY)
    assert escaped.status_code == 404
    assert (workspace / one["workspace"] / "research" / "input.txt").read_bytes() == b"data"


def test_list_pages_newest_first(tasks_client):
    client = tasks_client(task_workers=0)
    made = [create(client, title=f"t{n}")["id"] for n in range(5)]
    first = client.get("/api/tasks", params={"limit": 2}, headers=KEY).json()
    assert [t["id"] for t in first["tasks"]] == made[::-1][:2] and first["next_cursor"]
    second = client.get("/api/tasks", params={"limit": 2, "cursor": first["next_cursor"]}, headers=KEY).json()
    assert [t["id"] for t in second["tasks"]] == made[::-1][2:4]


def test_events_stream_until_the_task_ends(tasks_client, model):
    model.push(plan("Done.", ("finish_task", {"summary": "ok", "files": []})))
    client = tasks_client()
    task = create(client)
    with client.stream("GET", f"/api/tasks/{task['id']}/events", headers=KEY) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert '"content":"complete"' in lines[-1].replace(" ", "")


def test_a_secret_argument_is_never_stored_by_a_task(tasks_client, model, engine):
    """The verification code a task's plan passes is masked in its steps, updates, audit
    events and parked call, and sealed where it must be kept to run once confirmed."""
    code = "482913"
    model.push(plan("Verifying.", ("verify_customer_email", {"email": "ana@example.com", "code": code})),
               plan("Finished.", ("finish_task", {"summary": "Tried.", "files": []})))
    client = tasks_client()
    task = create(client)
    [confirmation] = wait_for(client, task["id"], "awaiting_confirmation")["confirmations"]
    assert confirmation["args"]["code"] == "[secret]"
    client.post(f"/api/tasks/{task['id']}/confirm", json={"token": confirmation["token"]}, headers=KEY)
    wait_for(client, task["id"], "complete", "failed")
    for table in ("task_steps", "task_updates", "task_calls", "audit_events", "pending_confirmations", "tasks"):
        assert code not in repr(rows(engine, table)), table


def test_a_chat_starts_a_task_once_confirmed_and_reads_it(tasks_client, model):
    from tests.helpers import chat

    model.push(plan("I will start it.", ("create_task", {"title": "Backup report", "description": "List backups.",
                                                         "complexity": 2})),
               plan("Done.", ("finish_task", {"summary": "No backups found.", "files": []})))
    client = tasks_client()
    parked = chat(client, "please make a backup report", **KEY)
    assert parked["status"] == "awaiting_confirmation" and client.get("/api/tasks", headers=KEY).json()["tasks"] == []
    started = chat(client, f"confirm {parked['confirmations'][0]['token']}", **KEY)
    [execution] = started["tool_executions"]
    task_id = execution["output"]["task_id"]
    wait_for(client, task_id, "complete")
    shown = chat(client, f"/task {task_id}", **KEY)
    assert "Backup report" in shown["reply"] and "complete" in shown["reply"] and "No backups found." in shown["reply"]
    unknown = chat(client, "/task nope", **KEY)
    assert unknown["status"] == "error" and "nope" in unknown["reply"]
    # Inside a task there is no create_task: a task does not start tasks.
    assert "create_task" not in model.calls[-1]["messages"][0]["content"]


def test_an_operator_approves_a_tasks_call_by_its_id(tasks_client, model, engine, workspace):
    """`llm-planner confirm ID` (the console, later) on a task's parked call: recorded for the
    task, whose worker runs it in the task's folder, once."""
    from app.confirmations.approvals import NotPending, approve

    plugins = workspace.parent / "plugins"
    plugins.mkdir()
    (plugins / "stamp.py").write_text(
        "from app.tools import ToolArgs, tool\n"
        "class A(ToolArgs):\n    pass\n"
        "@tool(permissions=['write'], tag='write')\n"
        "def stamp(args: A, ctx):\n"
        "    'Writes a stamp in the folder it is handed.'\n"
        "    (ctx.workspace.root / 'stamp.txt').open('a').write('x')\n"
        "    return {'folder': str(ctx.workspace.root)}\n")
    model.push(plan("Stamping.", ("stamp", {})), plan("Done.", ("finish_task", {"summary": "ok", "files": []})))
    client = tasks_client(plugins_dir=plugins)
    task = create(client)
    wait_for(client, task["id"], "awaiting_confirmation")
    [pending] = rows(engine, "pending_confirmations")
    runtime = client.app.state.runtime
    decided, execution = approve(runtime, pending["id"], "maria")
    assert execution is None  # not run here: the task's worker runs it
    done = wait_for(client, task["id"], "complete", "failed")
    assert done["status"] == "complete"
    assert (workspace / task["workspace"] / "stamp.txt").read_text() == "x"  # in the task's folder, once
    assert not (workspace / "stamp.txt").exists()
    with pytest.raises(NotPending, match="maria"):
        approve(runtime, pending["id"], "juan")
    [event] = rows(engine, "audit_events", kind="confirmation_approved")
    assert event["data"]["approved_by"] == "maria" and event["session_id"] == task["id"]


def test_cancelling_a_waiting_task_drops_its_confirmations(tasks_client, model, engine):
    model.push(plan("Registering.", ("register_customer", {"name": "Ana", "email": "ana@example.com"})))
    client = tasks_client()
    task = create(client)
    [confirmation] = wait_for(client, task["id"], "awaiting_confirmation")["confirmations"]
    cancelled = client.put(f"/api/tasks/{task['id']}/status", json={"status": "cancelled"}, headers=KEY).json()
    assert cancelled["status"] == "cancelled" and cancelled["confirmations"] == []
    assert [r["status"] for r in rows(engine, "pending_confirmations")] == ["cancelled"]
    late = client.post(f"/api/tasks/{task['id']}/confirm", json={"token": confirmation["token"]}, headers=KEY)
    assert late.status_code == 409 and rows(engine, "customers") == []


def test_a_step_whose_store_fails_is_run_again_and_the_task_finishes(tasks_client, model, monkeypatch, engine):
    """The database goes away while a step is stored: nothing of the step is kept, its lease
    runs out, and the task is taken over from its last stored step and finished."""
    import sqlalchemy as sa

    from app.tasks import repository

    real, attempts = repository.insert_step, []

    def failing_once(conn, *args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise sa.exc.OperationalError("INSERT INTO task_steps", {}, ConnectionError("server has gone away"))
        return real(conn, *args, **kwargs)

    monkeypatch.setattr(repository, "insert_step", failing_once)
    model.push(plan("Looking.", ("list_dir", {})), plan("Looking again.", ("list_dir", {})),
               plan("Done.", ("finish_task", {"summary": "ok", "files": []})))
    client = tasks_client()
    task = create(client)
    done = wait_for(client, task["id"], "complete", "failed", timeout=30)
    assert done["status"] == "complete" and done["steps"] == 2
    assert [r["step"] for r in rows(engine, "task_steps", task_id=task["id"])] == [1, 2]
    steps = [u for u in client.get(f"/api/tasks/{task['id']}/updates", headers=KEY).json()["updates"]
             if u["update_type"] == "step"]
    assert [u["content"] for u in steps] == ["Looking again.", "Done."]  # the lost step left no update


def test_workspaces_are_listed_made_and_take_uploaded_files(tasks_client, workspace):
    client = tasks_client(task_workers=0)
    task = create(client)
    [own] = client.get("/api/workspaces", params={"task_id": task["id"]}, headers=KEY).json()["workspaces"]
    assert own["workspace_path"] == task["workspace"] and own["agent"] == "default"
    made = client.post("/api/workspaces", json={"agent": "default"}, headers=KEY)
    again = client.post("/api/workspaces", json={"agent": "default"}, headers=KEY)
    assert (made.status_code, again.status_code) == (201, 200) and made.json()["id"] == again.json()["id"]
    assert {"tools", "references"} <= {p.name for p in (workspace / made.json()["workspace_path"]).iterdir()}
    assert client.post("/api/workspaces", json={"agent": "ghost"}, headers=KEY).status_code == 400
    up = client.post(f"/api/workspaces/{own['id']}/files", headers=KEY,
                     data={"path": "research/notes.txt"}, files={"file": ("notes.txt", b"field notes")})
    assert up.status_code == 201, up.text
    assert client.get(f"/api/tasks/{task['id']}/files/research/notes.txt", headers=KEY).content == b"field notes"
    listed = client.get(f"/api/workspaces/{own['id']}/files", params={"path": "research"}, headers=KEY).json()
    assert [e["name"] for e in listed["entries"]] == ["notes.txt"]
    outside = client.post(f"/api/workspaces/{own['id']}/files", headers=KEY,
                          data={"path": "../../../../escape.txt"}, files={"file": ("x", b"evil")})
    assert outside.status_code == 404
    assert not (workspace / "escape.txt").exists() and not (workspace.parent / "escape.txt").exists()
    assert client.get("/api/workspaces/999/files", headers=KEY).status_code == 404


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # FOR UPDATE SKIP LOCKED
def test_a_claim_in_flight_does_not_hide_the_rest_of_the_queue(tasks_client, engine):
    """Two workers claiming at the same moment each get a task: a claim locks only the row it
    takes (one locking query over the queue locked every row it sorted, and the other worker
    found nothing and went idle until its next poll)."""
    from app.tasks import queue
    client = tasks_client(task_workers=0)
    created = [create(client, title=f"t{n}")["id"] for n in range(3)]
    # The assigner gives queued tasks to the default agent before a claim; do it once here.
    client.app.state.runtime.agents.assigner.assign_waiting()
    # The first claim holds the row it locked while the second one claims.
    first, second = claim_held_while(engine, "worker-a", lambda sql: "FOR UPDATE" in sql,
                                     lambda: queue.claim(engine, "worker-b", 30))
    assert second is not None, "the second worker found nothing while the first was claiming"
    assert first is not None
    assert {first[0].id, second[0].id} <= set(created) and first[0].id != second[0].id
    owners = {r["id"]: r["lease_owner"] for r in rows(engine, "tasks")}
    assert owners[first[0].id] == "worker-a" and owners[second[0].id] == "worker-b"
