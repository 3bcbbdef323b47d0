"""The Ollama connector, over real HTTP against a stand-in Ollama server."""

import socket
import time

import pytest

from app.llm import build_model
from app.planner.output import PLAN_SCHEMA
from tests.fake_ollama import FakeOllama
from tests.helpers import chat, rows


@pytest.fixture
def ollama():
    with FakeOllama() as server:
        yield server


@pytest.fixture
def ollama_client(make_client, make_settings, ollama):
    def build(**overrides):
        settings = make_settings(ollama_base_url=ollama.url, **overrides)
        return make_client(model_=build_model(settings), ollama_base_url=ollama.url, **overrides)
    return build


def test_chat_request_is_what_the_contract_says(ollama_client, ollama, workspace, engine):
    client = ollama_client(ollama_api_key="cloud-key")
    ollama.reply({"reply": "Listing.", "tool_calls": [{"tool": "list_dir", "args": {}}]})
    message = "¿Qué archivos hay?"

    body = chat(client, message)

    assert body["status"] == "success" and body["tool_executions"][0]["tool_name"] == "list_dir"
    [request] = [r for r in ollama.requests if r["path"] == "/api/chat"]
    sent = request["body"]
    assert sent["model"] == "test-model" and sent["format"] == PLAN_SCHEMA
    assert sent["options"]["temperature"] == 0 and sent["stream"] is False
    assert sent["messages"][-1] == {"role": "user", "content": message}
    assert request["headers"]["authorization"] == "Bearer cloud-key"
    [call] = rows(engine, "audit_events", kind="model_call")
    assert call["data"]["prompt_tokens"] == 120 and call["data"]["output_tokens"] == 30
    assert call["data"]["model"] == "test-model"


def test_no_key_no_authorization_header(ollama_client, ollama, monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    client = ollama_client()
    ollama.reply({"reply": "hi"})
    chat(client, "hi")
    assert "authorization" not in ollama.requests[-1]["headers"]


def test_fenced_and_invalid_replies_are_guarded(ollama_client, ollama):
    client = ollama_client()
    ollama.reply("Sure! Here you go")
    ollama.reply('```json\n{"reply": "done", "tool_calls": []}\n```')
    body = chat(client, "hi")
    assert body["status"] == "success" and body["reply"] == "done"
    retry = ollama.requests[-1]["body"]["messages"]
    assert "no JSON object" in retry[-1]["content"]


def test_server_errors_are_retried_then_a_clear_reply(ollama_client, ollama):
    client = ollama_client()
    for _ in range(3):
        ollama.reply("model crashed", status=500)
    body = chat(client, "hi")
    assert body["status"] == "error" and "ollama" in body["reply"] and ollama.url in body["reply"]
    assert "HTTP 500" in body["reply"]
    assert len([r for r in ollama.requests if r["path"] == "/api/chat"]) == 3  # LLM_MAX_ATTEMPTS


def test_transient_errors_are_retried_and_counted(ollama_client, ollama, engine):
    client = ollama_client()
    ollama.reply("busy", status=429)
    ollama.reply("oops", status=503)
    ollama.reply({"reply": "third time lucky"})
    body = chat(client, "hi")
    assert body["status"] == "success" and body["reply"] == "third time lucky"
    [call] = rows(engine, "audit_events", kind="model_call")
    assert call["data"]["retries"] == 2
    [response] = rows(engine, "audit_events", kind="response")
    assert response["data"]["model_usage"] == {"calls": 1, "prompt_tokens": 120, "output_tokens": 30,
                                               "latency_ms": response["data"]["model_usage"]["latency_ms"],
                                               "retries": 2}


def test_not_found_model_is_not_retried(ollama_client, ollama):
    client = ollama_client()
    ollama.reply("model 'x' not found", status=404)
    body = chat(client, "hi")
    assert body["status"] == "error" and "HTTP 404" in body["reply"]
    assert len([r for r in ollama.requests if r["path"] == "/api/chat"]) == 1


def test_slow_model_times_out_within_the_deadline(ollama_client, ollama):
    client = ollama_client(llm_timeout_sec=0.5)
    ollama.delay = 3
    started = time.monotonic()
    body = chat(client, "hi")
    assert body["status"] == "error" and "no answer within" in body["reply"]
    assert time.monotonic() - started < 2.5


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_model_down_ready_503_and_commands_keep_working(make_client, make_settings, workspace):
    url = f"http://127.0.0.1:{_closed_port()}"
    client = make_client(model_=build_model(make_settings(ollama_base_url=url)), ollama_base_url=url)
    body = chat(client, "list the files")
    assert body["status"] == "error" and url in body["reply"]
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["model"]["ok"] is False
    assert ready.json()["checks"]["database"]["ok"] is True
    (workspace / "x").write_text("1")
    assert chat(client, "/list_dir")["status"] == "success"


def test_no_model_configured(make_client, make_settings):
    settings = make_settings(ollama_model=None)
    client = make_client(model_=build_model(settings), ollama_model=None)
    body = chat(client, "hello")
    assert body["status"] == "error" and "OLLAMA_MODEL" in body["reply"]
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and "OLLAMA_MODEL" in ready.json()["checks"]["model"]["error"]
    assert chat(client, "/help")["status"] == "success"
