"""Rate limits, budgets and CORS."""

import uuid

import pytest
import redis

from tests.helpers import chat, plan, rows


def test_eleventh_request_in_a_minute_is_429(make_client, model, engine):
    client = make_client(rate_limit_enabled=True, rate_limit_namespace=uuid.uuid4().hex)
    for i in range(10):
        response = client.post("/agent", json={"message": "/help", "session_id": f"s{i}"})
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert response.headers["X-RateLimit-Remaining"] == str(9 - i)
    refused = client.post("/agent", json={"message": "/help", "session_id": "new"})
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # `detail` for programs, as before; `error` for the person a chat gateway shows it to.
    assert refused.json() == {"detail": "rate limit exceeded: 10 requests per minute per ip",
                              "error": "Rate limit exceeded: 10 per 1 minute",
                              "request_id": refused.headers["x-request-id"]}
    [event] = rows(engine, "audit_events", kind="rate_limited")
    assert event["data"]["scope"] == "ip"
    assert len(rows(engine, "audit_events", kind="request")) == 10  # the refused one started no turn


def test_per_session_limit_on_the_gateway_route(make_client):
    client = make_client(rate_limit_enabled=True, rate_limit_requests=3, internal_api_key="k",
                         rate_limit_namespace=uuid.uuid4().hex)
    send = lambda phone: client.post("/wa/agent", json={"message": "/help", "session_id": phone},
                                     headers={"x-api-key": "k"}).status_code
    assert [send("+1") for _ in range(4)] == [200, 200, 200, 429]
    refused = client.post("/wa/agent", json={"message": "/help", "session_id": "+1"}, headers={"x-api-key": "k"})
    assert refused.json()["error"] == "Rate limit exceeded: 3 per 1 minute"
    assert send("+2") == 200  # other phones behind the same gateway are not held back


def test_limits_hold_across_workers_with_redis(make_client):
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    shared = dict(rate_limit_enabled=True, rate_limit_requests=4, rate_limit_namespace=uuid.uuid4().hex,
                  rate_limit_storage_url="redis://127.0.0.1:6379/0")
    one, two = make_client(**shared), make_client(**shared)  # two workers, one count
    codes = [(one if i % 2 else two).post("/agent", json={"message": "/help", "session_id": f"r{i}"}).status_code
             for i in range(6)]
    assert codes == [200, 200, 200, 200, 429, 429]


def test_tool_call_budget(make_client, model, workspace):
    client = make_client(session_tool_calls_per_hour=2)
    model.push(plan("x", ("list_dir", {}), ("list_dir", {}), ("list_dir", {})))
    body = chat(client, "list thrice")
    assert [e["status"] for e in body["tool_executions"]] == ["success", "success", "blocked"]
    assert "budget" in body["tool_executions"][2]["error"]
    assert chat(client, "/list_dir", session_id="other")["status"] == "success"


def test_token_budget(make_client, make_settings):
    from app.llm import build_model
    from tests.fake_ollama import FakeOllama

    with FakeOllama() as ollama:  # answers report 150 tokens a call
        settings = dict(ollama_base_url=ollama.url, session_tokens_per_hour=200)
        client = make_client(model_=build_model(make_settings(**settings)), **settings)
        assert chat(client, "one")["status"] == "success"
        assert chat(client, "two")["status"] == "success"  # 150 < 200 before it
        spent = chat(client, "three")
        assert spent["status"] == "error" and "budget" in spent["reply"]
        assert chat(client, "/help")["status"] == "success"
        assert len([r for r in ollama.requests if r["path"] == "/api/chat"]) == 2


def test_cors(make_client):
    closed = make_client()
    preflight = {"Origin": "https://chat.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-api-key"}
    assert "access-control-allow-origin" not in closed.options("/agent", headers=preflight).headers
    open_ = make_client(cors_origins="https://chat.example.com,https://ops.example.com")
    allowed = open_.options("/agent", headers=preflight)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://chat.example.com"
    other = open_.options("/agent", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
