"""The audit trail: complete, chained, verifiable, and readable by the operator only."""

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from app.audit.archive import archive, verify_archive
from app.audit.chain import AuditTrail, record, verify, verify_chain
from app.store.db import create_db_engine
from app.store.tables import audit_checkpoints, audit_events, audit_head, utcnow
from tests.helpers import CLI, chat, cli_env, plan, rows


def traffic(client, model, n=3):
    for i in range(n):
        model.push(plan(f"answer {i}", ("list_dir", {})))
        chat(client, f"question {i}", session_id=f"s{i % 2}")


@pytest.mark.parametrize("turn_concurrency", [1, 4])
def test_chain_is_intact_after_concurrent_writers(make_client, model, engine, turn_concurrency):
    """Every concurrent turn is answered and on record, however few may use the store at once."""
    client = make_client(turn_concurrency=turn_concurrency)
    model.steps.clear()
    model.repeat_last = True
    model.push(plan("hi", ("list_dir", {})))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: chat(client, f"q{i}", session_id=f"c{i % 4}"), range(24)))
    checked, broken = verify(engine)
    assert broken is None and checked == len(rows(engine, "audit_events")) >= 24 * 5


def test_one_process_finds_the_head_where_it_left_it(make_client, model, engine):
    """Concurrent turns of one process append one at a time, so each moves the head from
    where the last left it, without reading it back under the lock (the fallback the guess
    saves). Without that, two turns in five at 32 concurrent requests took the fallback."""
    client = make_client(turn_concurrency=4)
    model.steps.clear()
    model.repeat_last = True
    model.push(plan("hi", ("list_dir", {})))
    chat(client, "warm up", session_id="w")  # this process's first append knows no head yet
    head_reads = []

    def count_head_reads(conn, cursor, statement, *rest):
        if statement.lstrip().startswith("SELECT audit_head.last_hash"):
            head_reads.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count_head_reads)
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: chat(client, f"q{i}", session_id=f"c{i % 4}"), range(32)))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_head_reads)
    assert all(a["status"] == "success" for a in answers)
    assert head_reads == []
    checked, broken = verify(engine)
    assert broken is None and checked == len(rows(engine, "audit_events"))


def test_chain_holds_with_several_workers_writing(backend, engine):
    """Workers are processes with their own engines: each one's guess of the head goes stale
    whenever another writes, and a write rolled back leaves a guess that never committed."""
    _, url, _ = backend
    workers = [create_db_engine(url) for _ in range(3)]
    try:
        for n in range(6):  # strictly interleaved: every append after the first finds a stale guess
            record(workers[n % 3], "request", request_id=f"r{n}", n=n)
        with pytest.raises(RuntimeError), workers[0].begin() as conn:
            trail = AuditTrail("rolled-back", "web", "s")
            trail.add("request", n=-1)
            trail.flush(conn)
            raise RuntimeError("the turn failed after its events were chained")
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda n: record(workers[n % 3], "request", request_id=f"c{n}", n=n), range(30)))
        checked, broken = verify(engine)
        assert broken is None and checked == 36
        assert "rolled-back" not in {r["request_id"] for r in rows(engine, "audit_events")}
    finally:
        for worker in workers:
            worker.dispose()


@pytest.mark.slow
def test_edit_delete_and_truncate_are_found(client, model, engine, backend):
    """`llm-planner audit verify` finds each kind of tampering, put back after each."""
    _, url, _ = backend
    traffic(client, model, 4)
    events = rows(engine, "audit_events")
    ids = [e["id"] for e in events]
    run = lambda: subprocess.run(CLI + ["audit", "verify"], env=cli_env(DB_URL=url), capture_output=True,
                                 text=True, timeout=60)
    ok = run()
    assert ok.returncode == 0 and f"{len(ids)} events" in ok.stdout

    def put_back(event: dict) -> None:
        with engine.begin() as conn:
            conn.execute(sa.delete(audit_events).where(audit_events.c.id == event["id"]))
            conn.execute(sa.insert(audit_events).values(**event))
        assert run().returncode == 0

    with engine.begin() as conn:  # someone rewrites what a tool returned
        conn.execute(sa.update(audit_events).where(audit_events.c.id == ids[5]).values(
            data={"tool": "list_dir", "status": "success", "output": "nothing to see"}))
    edited = run()
    assert edited.returncode == 1 and f"event {ids[5]}" in edited.stdout and "edited" in edited.stdout
    put_back(events[5])

    with engine.begin() as conn:  # someone removes an event from the middle
        conn.execute(sa.delete(audit_events).where(audit_events.c.id == ids[3]))
    deleted = run()
    assert deleted.returncode == 1 and f"event {ids[4]}" in deleted.stdout and "removed" in deleted.stdout
    put_back(events[3])

    with engine.begin() as conn:  # someone cuts the newest events off
        conn.execute(sa.delete(audit_events).where(audit_events.c.id >= ids[-2]))
    truncated = run()
    assert truncated.returncode == 1 and "the end of the trail" in truncated.stdout
    assert "newest events are missing" in truncated.stdout


def test_removed_and_truncated_events_are_found(client, model, engine):
    traffic(client, model, 3)
    ids = [r["id"] for r in rows(engine, "audit_events")]
    with engine.begin() as conn:
        conn.execute(sa.delete(audit_events).where(audit_events.c.id == ids[-1]))
    assert verify(engine)[1]["problem"].startswith("the newest events are missing")
    with engine.begin() as conn:
        conn.execute(sa.delete(audit_events).where(audit_events.c.id == ids[3]))
    broken = verify(engine)[1]
    assert broken["id"] == ids[4] and "removed" in broken["problem"]


def test_every_decision_is_on_record(client, model, engine):
    model.push(plan("x", ("write_file", {"path": "a.txt", "content": "1"}), ("nope", {})))
    parked = chat(client, "write")
    token = parked["confirmations"][0]["token"]
    chat(client, f"confirm {token}")
    chat(client, f"confirm {token}")
    client.post("/agent", json={"message": ""})
    kinds = [r["kind"] for r in rows(engine, "audit_events")]
    for kind in ("request", "model_call", "plan", "tool_execution", "confirmation_requested",
                 "confirmation_consumed", "confirmation_rejected", "response", "request_rejected"):
        assert kind in kinds, kind
    for row in rows(engine, "audit_events", kind="tool_execution"):
        assert row["request_id"] and row["session_id"] == "s1" and "args" in row["data"]


def test_get_audit_needs_the_admin_key_and_pages(make_client, model, engine):
    assert make_client().get("/audit").status_code == 503
    client = make_client(admin_api_key="admin")
    assert client.get("/audit").status_code == 401
    assert client.get("/audit", headers={"X-API-Key": "wrong"}).status_code == 401
    traffic(client, model, 4)
    headers = {"X-API-Key": "admin"}
    first = client.get("/audit", params={"limit": 5}, headers=headers).json()
    second = client.get("/audit", params={"limit": 5, "cursor": first["next_cursor"]}, headers=headers).json()
    ids = [e["id"] for e in first["events"] + second["events"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 10
    only = client.get("/audit", params={"session_id": "s1", "kind": "plan"}, headers=headers).json()
    assert len(only["events"]) == 2 and {e["session_id"] for e in only["events"]} == {"s1"}
    one = only["events"][0]["request_id"]
    assert {e["request_id"] for e in client.get("/audit", params={"request_id": one},
                                                headers=headers).json()["events"]} == {one}
    future = client.get("/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=headers).json()
    assert future == {"events": [], "next_cursor": None}
    assert client.get("/audit", params={"limit": 0}, headers=headers).status_code == 422
    assert client.get("/audit", params={"since": "yesterday"}, headers=headers).status_code == 422
    assert client.get("/audit", params={"since": "0.5"}, headers=headers).status_code == 422  # not 1970


@pytest.mark.slow
def test_audit_tail(client, model, backend):
    _, url, _ = backend
    traffic(client, model, 2)
    out = subprocess.run(CLI + ["audit", "tail", "-n", "3"], env=cli_env(DB_URL=url), capture_output=True,
                         text=True, timeout=60)
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 3 and '"kind": "response"' in lines[-1]


def test_archive_while_turns_are_written_keeps_the_chain_verifiable(make_client, model, engine, backend,
                                                                   tmp_path):
    """Batches of the oldest events move to files while turns append and verifiers read:
    every verification, during and after, finds the checkpoint and the head agreeing. The
    archiver and the verifier have engines of their own, as other processes would."""
    _, url, _ = backend
    archiver, verifier_engine = create_db_engine(url), create_db_engine(url)
    client = make_client(turn_concurrency=4)
    model.steps.clear()
    model.repeat_last = True
    model.push(plan("hi", ("list_dir", {})))
    traffic_done = threading.Event()
    seen: list = []

    def turns():
        try:
            for i in range(30):
                chat(client, f"q{i}", session_id=f"c{i % 3}")
        finally:
            traffic_done.set()

    def verifier():
        while not traffic_done.is_set():
            seen.append(verify(verifier_engine)[1])

    with ThreadPoolExecutor(4) as pool:
        writers = [pool.submit(turns), pool.submit(turns)]
        checker = pool.submit(verifier)
        files = []
        while not traffic_done.is_set():
            out = tmp_path / f"part{len(files)}.jsonl"
            archive(archiver, utcnow(), out, batch=7)
            files.append(out)
        for future in writers + [checker]:
            future.result()
    files.append(tmp_path / "last.jsonl")
    archive(archiver, utcnow(), files[-1], batch=7)
    archiver.dispose()
    verifier_engine.dispose()
    assert seen and all(broken is None for broken in seen)
    result = verify_chain(engine)
    assert result.broken is None and result.checkpoint is not None
    archived = sum(verify_archive(f).checked for f in files if f.exists())
    with engine.connect() as conn:
        head = conn.execute(sa.select(audit_head)).one()
    assert archived + result.checked == head.events >= 60 * 5
    assert archived == result.checkpoint.chain_events
    for f in files:
        assert not f.exists() or verify_archive(f).broken is None


@pytest.mark.slow
def test_audit_archive_and_verify_from_the_checkpoint(client, model, engine, backend, tmp_path):
    _, url, _ = backend
    run = lambda *args: subprocess.run(CLI + ["audit", *args], cwd=tmp_path, env=cli_env(DB_URL=url),
                                       capture_output=True, text=True, timeout=60)
    traffic(client, model, 3)
    cut = utcnow()
    old_ids = [e["id"] for e in rows(engine, "audit_events")]
    old = len(old_ids)
    traffic(client, model, 2)
    newer = len(rows(engine, "audit_events")) - old

    for bad in (["--before", "last tuesday"], []):
        refused = run("archive", *bad)
        assert refused.returncode == 2 and "--before" in refused.stderr and "Traceback" not in refused.stderr
    done = run("archive", "--before", cut.isoformat(), "--out", "old.jsonl")
    assert done.returncode == 0 and f"archived {old} audit events" in done.stdout, done.stderr
    assert len(rows(engine, "audit_events")) == newer
    again = run("archive", "--before", cut.isoformat(), "--out", "old.jsonl")
    assert again.returncode == 2 and "exists" in again.stderr

    verified = run("verify")
    archive_path = str((tmp_path / "old.jsonl").resolve())
    assert verified.returncode == 0, verified.stdout
    assert (f"verified {newer} events after the checkpoint of {cut.date().isoformat()} "
            f"(event {old_ids[-1]}, archived to {archive_path})") in verified.stdout
    checked = run("verify", "--archive", "old.jsonl")
    assert checked.returncode == 0 and f"{old} events" in checked.stdout and "start of the chain" in checked.stdout

    lines = (tmp_path / "old.jsonl").read_text().splitlines()
    edited = json.loads(lines[2])
    edited["data"]["text"] = "something else"
    (tmp_path / "edited.jsonl").write_text("\n".join(lines[:2] + [json.dumps(edited)] + lines[3:]) + "\n")
    broken = run("verify", "--archive", "edited.jsonl")
    assert broken.returncode == 1 and "line 3" in broken.stdout and "edited" in broken.stdout
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:4] + lines[5:]) + "\n")
    broken = run("verify", "--archive", "cut.jsonl")
    assert broken.returncode == 1 and "line 5" in broken.stdout and "removed" in broken.stdout
    (tmp_path / "junk.jsonl").write_bytes(b"\xff\xfe not json\n")
    assert "Traceback" not in run("verify", "--archive", "junk.jsonl").stderr
    missing = run("verify", "--archive", "nowhere.jsonl")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr

    first_left = rows(engine, "audit_events")[0]
    with engine.begin() as conn:  # the first event after the checkpoint is edited
        conn.execute(sa.update(audit_events).where(audit_events.c.id == first_left["id"]).values(
            data={"text": "rewritten"}))
    tampered = run("verify")
    assert tampered.returncode == 1 and f"event {first_left['id']}" in tampered.stdout
    with engine.begin() as conn:
        conn.execute(sa.update(audit_events).where(audit_events.c.id == first_left["id"]).values(
            data=first_left["data"]))
        conn.execute(sa.delete(audit_checkpoints))  # the checkpoint is removed
    assert run("verify").returncode == 1
