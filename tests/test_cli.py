"""The commands a user types: serve (real process), migrate, tools; settings errors."""

import json
import subprocess

import httpx
import pytest
import sqlalchemy as sa

from app.store.db import create_db_engine
from tests.helpers import CLI, cli_env, free_port, wait_healthy

pytestmark = pytest.mark.slow  # each test starts real processes

def _serve(tmp_path, db_url, port):
    return subprocess.Popen(CLI + ["serve", "--port", str(port)], cwd=tmp_path,
                            env=cli_env(DB_URL=db_url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_serve_migrate_and_run(backend, empty_db, tmp_path):
    kind, _, _ = backend
    port = free_port()
    if kind == "mysql":
        refused = _serve(tmp_path, empty_db, port)
        out, _ = refused.communicate(timeout=60)
        assert refused.returncode == 1 and "llm-planner migrate" in out
        migrated = subprocess.run(CLI + ["migrate"], cwd=tmp_path, env=cli_env(DB_URL=empty_db),
                                  capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
    proc = _serve(tmp_path, empty_db, port)
    try:
        wait_healthy(proc, port)
        base = f"http://127.0.0.1:{port}"
        (tmp_path / "workspace" / "hello.txt").write_text("hi")
        body = httpx.post(f"{base}/agent", json={"message": "/list_dir", "session_id": "cli"}).json()
        assert body["status"] == "success" and "hello.txt" in body["reply"]
        ready = httpx.get(f"{base}/health/ready")
        assert ready.status_code == 503  # no model configured, and it says so
        assert ready.json()["checks"]["database"]["ok"] is True
        assert "OLLAMA_MODEL" in httpx.post(f"{base}/agent", json={"message": "hi", "session_id": "c"}).json()["reply"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if kind == "sqlite":
        assert (tmp_path / "data" / "confirm_secret").exists()
    engine = create_db_engine(empty_db)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"sessions", "messages", "dedupe_messages", "audit_events", "pending_confirmations",
                "customers"} <= tables
        assert conn.execute(sa.text("SELECT COUNT(*) FROM audit_events")).scalar() >= 4
    engine.dispose()


def test_tools_catalogue(tmp_path):
    out = subprocess.run(CLI + ["tools", "--json"], cwd=tmp_path, env=cli_env(), capture_output=True,
                         text=True, timeout=60)
    catalogue = {item["name"]: item for item in json.loads(out.stdout)}
    assert set(catalogue) >= {"health_check", "list_dir", "read_file", "write_file", "register_customer"}
    assert catalogue["write_file"]["tag"] == "write" and catalogue["write_file"]["permissions"] == ["write"]
    assert catalogue["read_file"]["args_schema"]["properties"]["max_lines"]


@pytest.mark.parametrize("setting,value,says", [
    ("BLOCKED_PERMISSIONS", "network,root", "unknown permission"),
    ("PORT", "eighty", "PORT"),
    ("LLM_PROVIDER", "gemini", "LLM_PROVIDER"),  # anthropic is a provider now
    ("CONFIRM_TTL_SEC", "0", "CONFIRM_TTL_SEC"),
    ("REPLY_LANGUAGE", "fr", "REPLY_LANGUAGE"),
])
def test_bad_setting_is_a_clear_message(tmp_path, setting, value, says):
    out = subprocess.run(CLI + ["tools"], cwd=tmp_path, env=cli_env(**{setting: value}),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and says in out.stderr and "Traceback" not in out.stderr


def test_dotenv_is_read(tmp_path):
    (tmp_path / ".env").write_text("BLOCKED_PERMISSIONS=write\n")
    out = subprocess.run(CLI + ["tools"], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert "[blocked: write]" in out.stdout


def test_purge_keeps_a_week_and_unfinished_deliveries(backend, engine, tmp_path):
    from datetime import timedelta

    from app.store.tables import dedupe_messages, utcnow

    _, url, _ = backend
    now = utcnow()
    base = dict(channel="provider", request_id="r", session_id="s", text="t", owner="h:1:x", attempts=1)
    with engine.begin() as conn:
        conn.execute(sa.insert(dedupe_messages), [
            {**base, "message_id": "old-done", "status": "done", "created_at": now - timedelta(days=8), "updated_at": now},
            {**base, "message_id": "old-open", "status": "processing", "created_at": now - timedelta(days=8), "updated_at": now},
            {**base, "message_id": "recent", "status": "done", "created_at": now - timedelta(days=6), "updated_at": now},
        ])
    refused = subprocess.run(CLI + ["purge", "--days", "3"], cwd=tmp_path, env=cli_env(DB_URL=url),
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "at least 7 days" in refused.stderr
    done = subprocess.run(CLI + ["purge"], cwd=tmp_path, env=cli_env(DB_URL=url), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "removed 1" in done.stdout
    with engine.connect() as conn:
        left = {r.message_id for r in conn.execute(sa.select(dedupe_messages.c.message_id))}
    assert left == {"old-open", "recent"}


def test_purge_removes_old_conversation_messages(backend, engine, tmp_path):
    from datetime import timedelta

    from app.store.tables import messages, utcnow

    _, url, _ = backend
    now = utcnow()
    base = dict(channel="web", session_id="s", request_id="r", role="user", content="hello")
    with engine.begin() as conn:
        conn.execute(sa.insert(messages), [{**base, "created_at": now - timedelta(days=days)}
                                           for days in (400, 100, 89, 1)])
    kept = subprocess.run(CLI + ["purge"], cwd=tmp_path, env=cli_env(DB_URL=url, MESSAGES_KEEP_DAYS="0"),
                          capture_output=True, text=True, timeout=60)
    assert kept.returncode == 0 and "kept for ever" in kept.stdout
    done = subprocess.run(CLI + ["purge"], cwd=tmp_path, env=cli_env(DB_URL=url), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "removed 2 conversation messages older than 90 days" in done.stdout
    with engine.connect() as conn:
        ages = sorted((now - r.created_at).days for r in conn.execute(sa.select(messages.c.created_at)))
    assert ages == [1, 89]
    shorter = subprocess.run(CLI + ["purge"], cwd=tmp_path, env=cli_env(DB_URL=url, MESSAGES_KEEP_DAYS="30"),
                             capture_output=True, text=True, timeout=60)
    assert "removed 1 conversation messages older than 30 days" in shorter.stdout
