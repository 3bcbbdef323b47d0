"""What tests share: reading tables, talking to the app, scripting plans, running the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.store.tables import metadata
from plugins.customers.records import metadata as customers_metadata

TEST_SECRET = "test-confirm-secret"
CLI = [sys.executable, "-m", "app.cli"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every table the migrations create: the service's and the shipped plugins'.
ALL_TABLES = {**metadata.tables, **customers_metadata.tables}


def rows(engine: sa.Engine, table: str, **where) -> list[dict]:
    tbl = ALL_TABLES[table]
    query = sa.select(tbl).where(*(tbl.c[k] == v for k, v in where.items())).order_by(tbl.c.id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def chat(client: TestClient, message: str, session_id: str = "s1", **headers) -> dict:
    response = client.post("/agent", json={"message": message, "session_id": session_id}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def plan(reply: str = "ok", *calls: tuple[str, dict], facts: dict | None = None) -> dict:
    return {"reply": reply, "tool_calls": [{"tool": t, "args": a} for t, a in calls], "facts": facts or {}}


def cli_env(**extra) -> dict:
    """The environment a CLI subprocess gets: ours, less the settings a test must choose."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "DB_URL", "AGENT_API"))}
    env["PYTHONPATH"] = ROOT
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("serve did not start")


def until(condition, seconds: float = 60) -> bool:
    """True as soon as `condition()` is; False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def claim_held_while(engine, held_owner: str, holds_after, meanwhile):
    """Run `queue.claim(engine, held_owner)` on a thread that stops right after its
    first statement `holds_after(sql)` accepts, call `meanwhile()` while it is stopped there,
    then let it finish: (the held claim's result, what meanwhile returned)."""
    import threading

    from app.tasks import queue

    stopped, go = threading.Event(), threading.Event()
    name = f"held-claim-{held_owner}"

    def hold(conn, cursor, statement, *_):
        if threading.current_thread().name == name and not stopped.is_set() and holds_after(statement):
            stopped.set()
            go.wait(10)

    sa.event.listen(engine, "after_cursor_execute", hold)
    held: list = []
    thread = threading.Thread(target=lambda: held.append(queue.claim(engine, held_owner, 30)), name=name)
    try:
        thread.start()
        assert stopped.wait(10), "the held claim never reached its statement"
        other = meanwhile()
    finally:
        go.set()
        thread.join(15)
        sa.event.remove(engine, "after_cursor_execute", hold)
    assert held, "the held claim did not finish"
    return held[0], other
