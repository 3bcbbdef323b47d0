"""Metrics at /metrics and JSON logs carrying the request id."""

import json
import subprocess
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import CLI, chat, cli_env, free_port, plan, wait_healthy


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_happened(client, model):
    before = scrape(client)
    model.push(plan("x", ("list_dir", {}), ("nope", {})), "not json", "still not", "never")
    chat(client, "list")
    chat(client, "bad")
    parked = chat(client, '/write_file path=a content=b')
    chat(client, f"confirm {parked['confirmations'][0]['token']}")
    client.post("/agent", json={"message": ""})
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("llm_planner_tool_executions_total", tool="list_dir", status="success") == 1
    # A tool the model invented is counted, but its name never becomes a label of its own.
    assert delta("llm_planner_tool_executions_total", tool="unknown", status="blocked") == 1
    assert ("llm_planner_tool_executions_total", (("status", "blocked"), ("tool", "nope"))) not in after
    assert delta("llm_planner_tool_executions_total", tool="write_file", status="success") == 1
    assert delta("llm_planner_plans_total", outcome="valid_first_time") == 1
    assert delta("llm_planner_plans_total", outcome="rejected_attempt") == 3
    assert delta("llm_planner_confirmations_total", event="requested") == 1
    assert delta("llm_planner_confirmations_total", event="consumed") == 1
    assert delta("llm_planner_turns_total", channel="web", status="error") == 1
    assert delta("llm_planner_refusals_total", reason="request_rejected") == 1
    assert delta("llm_planner_model_call_seconds_count", provider="scripted") == 4
    assert delta("llm_planner_http_requests_total", method="POST", route="/agent", status="200") == 4
    assert delta("llm_planner_http_requests_total", method="POST", route="/agent", status="422") == 1


@pytest.mark.slow
def test_json_logs_with_request_id_and_a_rotating_file(tmp_path, backend, engine):
    _, url, _ = backend
    port = free_port()
    log_file = tmp_path / "logs" / "agent.log"
    proc = subprocess.Popen(CLI + ["serve", "--port", str(port)], cwd=tmp_path,
                            env=cli_env(DB_URL=url, LOG_FILE=str(log_file), LOG_LEVEL="info",
                                     OLLAMA_MODEL="m", OLLAMA_BASE_URL="http://127.0.0.1:9",
                                     LLM_MAX_ATTEMPTS="1", CONFIRM_SECRET="k"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(proc, port)
        body = httpx.post(f"http://127.0.0.1:{port}/agent", json={"message": "hello", "session_id": "log"}).json()
        time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    mine = [line for line in lines if line.get("request_id") == body["request_id"]]
    assert mine, "no log line carries the turn's request id"
