"""Routes, keys, limits and bad input: clear 4xx, audited, never a 500."""

import pytest

from app.llm.base import ModelUnavailable
from tests.helpers import chat, plan, rows


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy" and body["version"] and body["timestamp"]


def test_ready_when_database_and_model_answer(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True


def test_agent_key_when_set(make_client, model, engine):
    client = make_client(agent_api_key="s3cret")
    model.push(plan("hi"))
    assert client.post("/agent", json={"message": "hi", "session_id": "a"}).status_code == 401
    assert client.post("/agent", json={"message": "hi", "session_id": "a"},
                       headers={"X-API-Key": "s3cret-not"}).status_code == 401
    assert chat(client, "hi", **{"X-API-Key": "s3cret"})["status"] == "success"
    assert len(rows(engine, "audit_events", kind="auth_failed")) == 2
    assert len(model.calls) == 1  # refused requests never reached the model


def test_agent_open_when_key_unset(client, model):
    model.push(plan("hi"))
    assert chat(client, "hi")["status"] == "success"


def test_agent_run_needs_a_configured_key(make_client, model, workspace):
    closed = make_client()
    assert closed.post("/agent/run", json={"input": "/list_dir"}).status_code == 503
    client = make_client(agent_api_key="k")
    assert client.post("/agent/run", json={"input": "/list_dir"}).status_code == 401
    (workspace / "a.txt").write_text("1")
    response = client.post("/agent/run", json={"input": "/list_dir"}, headers={"x-api-key": "k"})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success"
    assert body["session_id"] == "default" and "a.txt" in body["reply"]


@pytest.mark.parametrize("payload", [
    {}, {"message": "hi"}, {"session_id": "a"}, {"message": "", "session_id": "a"},
    {"message": "x" * 10001, "session_id": "a"}, {"message": 5, "session_id": "a"},
    {"message": "hi", "session_id": ""}, {"message": "hi", "session_id": "a\nb"},
    {"message": "hi", "session_id": "a", "extra": 1}, [], "text", None,
])
def test_invalid_bodies_are_422_and_audited(client, model, engine, payload):
    response = client.post("/agent", json=payload)
    assert response.status_code == 422
    assert rows(engine, "audit_events", kind="request_rejected")
    assert model.calls == []


def test_not_json_is_422(client):
    response = client.post("/agent", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert client.post("/agent", content=b"message=hi").status_code == 422


def test_run_input_limits(make_client):
    client = make_client(agent_api_key="k")
    for bad in ({"input": ""}, {"input": "x" * 10001}, {}):
        assert client.post("/agent/run", json=bad, headers={"X-API-Key": "k"}).status_code == 422


def test_oversized_body_is_413_declared_or_streamed(make_client, model, engine):
    client = make_client(max_request_size=2048)
    big = {"message": "x" * 4000, "session_id": "a"}
    assert client.post("/agent", json=big).status_code == 413

    def chunks():
        yield b'{"message": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'", "session_id": "a"}'

    assert client.post("/agent", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
    assert model.calls == []
    assert [r["data"]["status"] for r in rows(engine, "audit_events", kind="request_rejected")] == [413, 413]


def test_model_crash_is_an_error_reply_not_a_500(client, model, engine):
    model.push(RuntimeError("boom"))
    response = client.post("/agent", json={"message": "hi", "session_id": "a"})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "error"
    assert body["request_id"] in body["error"] and "boom" not in response.text
    assert rows(engine, "audit_events", kind="internal_error")


def test_model_down_answers_clearly_and_commands_still_work(client, model, workspace):
    model.push(ModelUnavailable("ollama", "http://127.0.0.1:9", "connection failed"))
    down = chat(client, "list the files")
    assert down["status"] == "error" and "ollama" in down["reply"] and "http://127.0.0.1:9" in down["reply"]
    (workspace / "f.txt").write_text("1")
    assert "f.txt" in chat(client, "/list_dir")["reply"]


def test_response_shape(client, model):
    model.push(plan("hi"))
    body = chat(client, "hi")
    assert set(body) == {"request_id", "session_id", "status", "reply", "error", "tool_executions",
                         "confirmations", "created_at", "duration_ms"}
    assert body["session_id"] == "s1" and isinstance(body["duration_ms"], int)


def test_unicode_and_odd_messages_never_500(client, model, engine):
    """Each is answered in words, never as "something went wrong on our side": a crash
    inside the turn would still answer 200, so the trail is checked for internal errors."""
    model.push(*[plan("ok")] * 4)
    for message in ("ñandú 🦤", "\x00 null", "confirm", "/", "/ ", '/read_file path="unclosed',
                    "/read_file nokey", "confirm " + "a" * 5000):
        response = client.post("/agent", json={"message": message, "session_id": "odd"})
        assert response.status_code == 200, (message, response.text)
        assert "on our side" not in response.json()["reply"], message
    assert rows(engine, "audit_events", kind="internal_error") == []
    assert len(rows(engine, "audit_events", kind="response")) == 8


def test_refusals_before_a_turn_carry_the_request_id(make_client, engine):
    client = make_client(agent_api_key="k", max_request_size=2048)
    refused = [client.post("/agent", json={"message": "hi", "session_id": "a"}),
               client.post("/agent", json={"message": "x" * 5000, "session_id": "a"}, headers={"X-API-Key": "k"}),
               client.post("/agent", json={"message": ""}, headers={"X-API-Key": "k"})]
    assert [r.status_code for r in refused] == [401, 413, 422]
    ids = {r.headers["x-request-id"] for r in refused}
    recorded = {row["request_id"] for row in rows(engine, "audit_events")}
    assert len(ids) == 3 and ids <= recorded


def test_a_refusal_on_the_turn_thread_carries_the_request_id(make_client, model, engine):
    """The rate limit is checked on the thread that runs the turn: the refusal's audit row
    still carries the id the response names."""
    client = make_client(rate_limit_enabled=True, rate_limit_requests=1)
    model.push(plan("ok"))
    assert client.post("/agent", json={"message": "hi", "session_id": "a"}).status_code == 200
    refused = client.post("/agent", json={"message": "hi", "session_id": "a"})
    assert refused.status_code == 429 and len(model.calls) == 1
    [event] = rows(engine, "audit_events", kind="rate_limited")
    assert event["request_id"] == refused.headers["x-request-id"]


def test_malformed_content_length_is_400_and_audited(client, model, engine):
    response = client.post("/agent", content=b'{"message": "hi", "session_id": "a"}',
                           headers={"content-type": "application/json", "content-length": "ten"})
    assert response.status_code == 400 and model.calls == []
    [event] = rows(engine, "audit_events", kind="request_rejected")
    assert event["data"] == {"route": "/agent", "reason": "invalid_content_length", "status": 400}


def refusal(response, status: int) -> dict:
    """The body every refusal carries: FastAPI's `detail`, a sentence for a person, the request id."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "error", "request_id"}, body
    assert isinstance(body["error"], str) and body["error"][:1].isupper(), body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_every_refusal_has_a_readable_error_and_the_request_id(make_client, model, engine):
    client = make_client(agent_api_key="k", max_request_size=2048, meta_app_secret="s", meta_verify_token="t")
    key = {"X-API-Key": "k"}

    body = refusal(client.post("/agent", json={"message": "hi", "session_id": "a"}), 401)
    assert body["detail"] == "missing or invalid API key" and "API key is missing or wrong" in body["error"]
    body = refusal(client.post("/agent", json={"message": "x" * 5000, "session_id": "a"}, headers=key), 413)
    assert body["detail"] == "request body larger than 2048 bytes" and "at most 2048 bytes" in body["error"]
    body = refusal(client.post("/agent", json={"message": "", "session_id": "a"}, headers=key), 422)
    assert body["detail"] == [{"loc": ["body", "message"], "msg": "String should have at least 1 character",
                               "type": "string_too_short"}]
    assert body["error"] == "Invalid request: body.message: String should have at least 1 character."
    body = refusal(client.post("/agent", content=b"{}", headers={**key, "content-length": "ten"}), 400)
    assert body["detail"] == "invalid Content-Length" and "Content-Length" in body["error"]
    body = refusal(client.get("/nowhere"), 404)
    assert body["detail"] == "Not Found" and body["error"].startswith("Not found")
    body = refusal(client.get("/provider/meta", params={"hub.mode": "subscribe", "hub.verify_token": "no"}), 403)
    assert body["detail"] == "verification failed"
    body = refusal(client.post("/wa/agent", json={"message": "hi", "session_id": "a"}), 503)
    assert body["detail"] == "INTERNAL_API_KEY is not configured on this server"
    assert "INTERNAL_API_KEY" in body["error"]
    assert model.calls == []


def test_a_wrong_method_is_405_naming_every_method_of_the_path(client):
    """/provider/meta has a GET and a POST route: both are named, not only the first."""
    for method, path, allowed in (("OPTIONS", "/provider/meta", "GET, POST"), ("DELETE", "/agent", "POST"),
                                  ("POST", "/health", "GET")):
        response = client.request(method, path)
        body = refusal(response, 405)
        assert response.headers["allow"] == allowed
        assert body["detail"] == "Method Not Allowed" and allowed in body["error"]


def test_an_unexpected_error_is_a_500_with_the_request_id_and_no_traceback(make_client, monkeypatch):
    from fastapi.testclient import TestClient

    app = make_client().app

    def crash(message):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.state.runtime.conversations, "answer", crash)
    response = TestClient(app, raise_server_exceptions=False).post("/agent", json={"message": "hi",
                                                                                   "session_id": "a"})
    body = refusal(response, 500)
    assert body["detail"] == "internal error; it has been logged"
    assert body["request_id"] in body["error"]
    assert "secret internals" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("raw, says", [
    (b'{"message": "caf\xe9", "session_id": "a"}', "The body is not valid UTF-8."),
    (b"[" * 50000 + b"]" * 50000, "The body is nested too deeply to be read."),
    (b'{"message": "hi", session_id: "a"}', "Invalid request: the body is not valid JSON (Expecting property "
                                            "name enclosed in double quotes)."),
])
def test_an_unreadable_body_says_why(client, model, engine, raw, says):
    response = client.post("/agent", content=raw, headers={"content-type": "application/json"})
    body = refusal(response, 422)
    assert body["error"] == says
    assert body["detail"][0]["type"] == "json_invalid"
    [event] = rows(engine, "audit_events", kind="request_rejected")
    assert event["data"]["status"] == 422 and model.calls == []
