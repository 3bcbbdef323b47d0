"""The Anthropic connector, through Anthropic's own client, against a stand-in server."""

from app.llm import build_model
from tests.fake_anthropic import FakeAnthropic
from tests.helpers import chat, plan, rows


def anthropic_client(make_client, make_settings, server, **overrides):
    values = {"llm_provider": "anthropic", "anthropic_base_url": server.url, "anthropic_api_key": "sk-ant-test",
              "anthropic_model": "claude-test", **overrides}
    return make_client(model_=build_model(make_settings(**values)), **values)


def test_a_plan_through_the_messages_api(make_client, make_settings, engine):
    with FakeAnthropic() as server:
        client = anthropic_client(make_client, make_settings, server)
        server.reply(plan("Listing.", ("list_dir", {})))
        body = chat(client, "list files, please")
    assert body["status"] == "success" and body["tool_executions"][0]["tool_name"] == "list_dir"
    [request] = server.requests
    assert request["path"] == "/v1/messages"
    headers = {k.lower(): v for k, v in request["headers"].items()}
    # The client sends the key its own way (x-api-key, or a bearer token in its newer lines).
    assert "sk-ant-test" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert "anthropic-version" in headers
    sent = request["body"]
    assert sent["model"] == "claude-test" and sent["max_tokens"] == 4096 and "temperature" not in sent
    assert "JSON" in sent["system"] and sent["messages"] == [{"role": "user", "content": "list files, please"}]
    [call] = rows(engine, "audit_events", kind="model_call")
    assert (call["data"]["prompt_tokens"], call["data"]["output_tokens"]) == (300, 50)
    assert call["data"]["provider"] == "anthropic"


def test_overloaded_and_rate_limited_are_retried(make_client, make_settings, engine):
    with FakeAnthropic() as server:
        client = anthropic_client(make_client, make_settings, server, llm_max_attempts=3)
        server.reply("Overloaded", status=529)
        server.reply("slow down", status=429)
        server.reply(plan("Third time."))
        body = chat(client, "hello")
    assert body["status"] == "success" and body["reply"] == "Third time."
    assert len(server.requests) == 3
    [call] = rows(engine, "audit_events", kind="model_call")
    assert call["data"]["retries"] == 2


def test_a_malformed_answer_is_asked_again_and_a_dead_server_is_said(make_client, make_settings):
    with FakeAnthropic() as server:
        client = anthropic_client(make_client, make_settings, server)
        server.reply("Sure! Here is the plan: list the files.")
        server.reply(plan("Now in JSON."))
        fixed = chat(client, "hello")
        assert fixed["reply"] == "Now in JSON." and len(server.requests) == 2
        assert "not a valid plan" in server.requests[1]["body"]["messages"][-1]["content"]
        url = server.url
    gone = anthropic_client(make_client, make_settings, type("S", (), {"url": url})(), llm_max_attempts=2,
                            llm_timeout_sec=3)
    body = chat(gone, "hello")
    assert body["status"] == "error" and "anthropic" in body["reply"] and "/help" in body["reply"]


def test_readiness_and_missing_settings(make_client, make_settings):
    with FakeAnthropic() as server:
        client = anthropic_client(make_client, make_settings, server)
        ready = client.get("/health/ready").json()
        assert ready["checks"]["model"]["ok"] is True and ready["checks"]["model"]["provider"] == "anthropic"
        unset = anthropic_client(make_client, make_settings, server, anthropic_api_key="")
        body = chat(unset, "hello")
        assert body["status"] == "error" and "ANTHROPIC_API_KEY" in body["reply"]
        assert unset.get("/health/ready").status_code == 503
