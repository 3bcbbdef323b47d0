"""Nothing acknowledged is lost: a real server is killed (-9) after acknowledging a Meta
delivery and before answering it; the next start finishes it, once."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.fake_http import RecordingServer
from tests.fake_ollama import FakeOllama
from tests.helpers import CLI, cli_env, free_port, plan, rows, until, wait_healthy

pytestmark = pytest.mark.slow  # each test starts real processes


def _start(tmp_path, env, port):
    return subprocess.Popen(CLI + ["serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)



def test_kill_between_acknowledgement_and_answer(backend, engine, tmp_path):
    _, url, _ = backend
    body = json.dumps({"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": "PNID"},
        "messages": [{"from": "5491100000000", "id": "wamid.kill", "type": "text",
                      "text": {"body": "are you there?"}}]}}]}]}).encode()
    signature = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    with FakeOllama() as ollama, RecordingServer() as graph:
        env = cli_env(DB_URL=url, OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="test-model",
                   META_APP_SECRET="app-secret", META_VERIFY_TOKEN="v", META_ACCESS_TOKEN="t",
                   META_GRAPH_URL=graph.url, CONFIRM_SECRET="k")
        port = free_port()
        ollama.delay = 30  # the model is slow: the process dies while it waits
        first = _start(tmp_path, env, port)
        try:
            wait_healthy(first, port)
            ack = httpx.post(f"http://127.0.0.1:{port}/provider/meta", content=body,
                             headers={"content-type": "application/json", "x-hub-signature-256": signature})
            assert ack.status_code == 200 and ack.json()["accepted"] == 1
            assert ollama.chat_started.wait(20)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        [row] = rows(engine, "dedupe_messages")
        assert row["status"] == "processing" and graph.requests == []

        ollama.delay = 0
        ollama.reply(plan("Yes, I am here."))
        port = free_port()
        second = _start(tmp_path, env, port)
        try:
            wait_healthy(second, port)
            assert until(lambda: rows(engine, "dedupe_messages")[0]["status"] == "done")
            assert until(lambda: len(graph.requests) == 1)
        finally:
            second.terminate()
            second.wait()
        [row] = rows(engine, "dedupe_messages")
        assert row["attempts"] == 2 and row["response"]["reply"] == "Yes, I am here."
        assert graph.requests[0]["body"]["text"]["body"] == "Yes, I am here."
        assert len(rows(engine, "audit_events", kind="delivery_recovered")) == 1

        third = _start(tmp_path, env, port)  # and a further restart does not run it again
        try:
            wait_healthy(third, port)
            time.sleep(1)
        finally:
            third.terminate()
            third.wait()
        assert len([r for r in ollama.requests if r["path"] == "/api/chat"]) == 2
        assert len(graph.requests) == 1
