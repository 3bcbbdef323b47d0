"""What a new user's misconfiguration looks like from outside (issue 20): readiness of the
configured model, the warnings said once at start, a header read from an unset variable,
a rate-limit store that is down, and the deploy files."""

import logging
import socket
import threading
import uuid
from pathlib import Path

import pytest
import redis
import yaml

from app.llm import build_model
from tests.fake_http import RecordingServer
from tests.fake_ollama import FakeOllama
from tests.fake_openai import FakeOpenAI
from tests.helpers import ROOT, chat, free_port, rows

STARTUP = "llm_planner.startup"


def ready(make_client, make_settings, **values):
    client = make_client(model_=build_model(make_settings(**values)), **values)
    response = client.get("/health/ready")
    return response.status_code, response.json()["checks"]["model"]


# -- /health/ready and the configured model ----------------------------------------------


@pytest.mark.parametrize("configured, listed, pulled", [
    ("qwen2.5:7b", [{"name": "qwen2.5:7b-instruct", "model": "qwen2.5:7b-instruct"}], False),
    ("qwen2.5:7b-instruct", [{"name": "qwen2.5:7b-instruct"}], True),   # `name` alone
    ("qwen2.5:7b", [{"model": "qwen2.5:7b"}], True),                    # `model` alone
    ("llama3", [{"name": "llama3:latest", "model": "llama3:latest"}], True),
    ("llama3:8b", [{"name": "llama3:latest"}], False),
    ("mistral", [], False),
])
def test_ready_checks_the_ollama_model_is_pulled(make_client, make_settings, configured, listed, pulled):
    with FakeOllama() as ollama:
        ollama.tags = listed
        status, check = ready(make_client, make_settings, ollama_base_url=ollama.url, ollama_model=configured)
    if pulled:
        assert status == 200 and check["ok"] is True
    else:
        assert status == 503 and check["ok"] is False
        assert check["error"] == f"model {configured} is not pulled; run `ollama pull {configured}`"


@pytest.mark.parametrize("listed, status", [(["test-model", "other"], 200), (["other", "another"], 503),
                                            (None, 200)])
def test_ready_checks_an_openai_endpoint_offers_the_model(make_client, make_settings, listed, status):
    with FakeOpenAI() as server:
        server.models = listed if listed is not None else []
        code, check = ready(make_client, make_settings, llm_provider="openai", openai_base_url=server.url,
                            openai_api_key="sk-test", openai_model="test-model")
    assert code == status
    if status == 503:
        assert "test-model is not offered" in check["error"] and "other" in check["error"]


# -- said once at start -------------------------------------------------------------------


def startup_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == STARTUP and r.levelno == logging.WARNING]


def test_misconfiguration_is_reported_once_at_start(make_client, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("LLM_TEST_NEVER_SET", raising=False)
    policy = tmp_path / "policy.toml"
    policy.write_text('[channels.web]\nallow = ["list_dir", "read_fiel"]\n')
    operator = tmp_path / "operator.toml"
    operator.write_text('[apis.status]\nbase_url = "http://127.0.0.1:9"\n'
                        'headers = { Authorization = "env:LLM_TEST_NEVER_SET" }\n'
                        '[jobs.backup]\nargv = ["true"]\ntimeout = 120\n')
    with caplog.at_level(logging.WARNING, logger=STARTUP):
        client = make_client(policy_file=policy, plugins_dir=tmp_path / "no-such-plugins",
                             operator_file=operator, agent_api_key="short")
        for _ in range(3):
            chat(client, "/help", **{"X-API-Key": "short"})
    said = startup_warnings(caplog)
    for words in ("'read_fiel'", "no-such-plugins", "LLM_TEST_NEVER_SET", "AGENT_API_KEY is shorter than 16",
                  "job backup: timeout 120s is above MAX_TOOL_TIMEOUT"):
        assert len([line for line in said if words in line]) == 1, (words, said)
    assert not [line for line in said if "'list_dir'" in line]


def test_an_explicit_operator_file_that_is_missing_is_said_the_default_is_not(make_client, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=STARTUP):
        make_client()  # the default ./operator.toml may well be absent
        assert not [line for line in startup_warnings(caplog) if "OPERATOR_FILE" in line]
        make_client(operator_file=tmp_path / "operatr.toml")
    [line] = [line for line in startup_warnings(caplog) if "OPERATOR_FILE" in line]
    assert "operatr.toml does not exist" in line


def test_an_unset_env_header_refuses_the_call(make_client, tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_TEST_NEVER_SET", raising=False)
    with RecordingServer() as api:
        operator = tmp_path / "operator.toml"
        operator.write_text(f'[apis.status]\nbase_url = "{api.url}"\n'
                            'headers = { Authorization = "env:LLM_TEST_NEVER_SET" }\n')
        client = make_client(operator_file=operator, blocked_permissions="execute")
        [call] = chat(client, "/http_get api=status path=/health")["tool_executions"]
        assert call["status"] == "error" and "LLM_TEST_NEVER_SET" in call["error"]
        assert api.requests == []  # no empty Authorization header went out


# -- a rate-limit store that is down fails closed -----------------------------------------


def test_a_down_rate_limit_store_refuses_requests_and_says_so_once(make_client, engine, caplog):
    store = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING):
        client = make_client(rate_limit_enabled=True, rate_limit_storage_url=store,
                             rate_limit_namespace=uuid.uuid4().hex)
        answers = [client.post("/agent", json={"message": "/help", "session_id": f"s{i}"}) for i in range(3)]
    for answer in answers:
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        assert "rate-limit store" in answer.json()["detail"] and "127.0.0.1" in answer.json()["detail"]
    assert [line for line in startup_warnings(caplog) if "RATE_LIMIT_STORAGE_URL" in line]
    outage_lines = [r for r in caplog.records if r.name == "llm_planner.ratelimit"]
    assert len(outage_lines) == 1 and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]  # one line, no traceback
    [event] = rows(engine, "audit_events", kind="rate_limited")
    assert event["data"]["scope"] == "store"
    assert rows(engine, "audit_events", kind="request") == []  # no turn ran


class RedisDoor:
    """A TCP door to the real Redis on a port of its own, shut and opened again at will."""

    def __init__(self) -> None:
        self.port, self.sockets = free_port(), []

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def shut(self) -> None:
        for sock in [self.listener, *self.sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it, which then ends
            except OSError:
                pass
            sock.close()
        self.sockets = []

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 6379))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, target) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass


def test_each_outage_of_the_store_is_audited_once_and_limits_return(make_client, engine):
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    door = RedisDoor()
    door.open()
    client = make_client(rate_limit_enabled=True, rate_limit_requests=50, rate_limit_namespace=uuid.uuid4().hex,
                         rate_limit_storage_url=f"redis://127.0.0.1:{door.port}/0")
    send = lambda: client.post("/agent", json={"message": "/help", "session_id": "s"}).status_code
    codes = [send()]
    for _ in range(2):
        door.shut()
        codes += [send(), send()]
        door.open()
        codes += [send()]
    door.shut()
    assert codes == [200, 503, 503, 200, 503, 503, 200]
    assert len(rows(engine, "audit_events", kind="rate_limited")) == 2  # one per outage


# -- deploy files ---------------------------------------------------------------------------


def test_render_keeps_the_workspace_on_the_disk():
    [service] = yaml.safe_load(Path(ROOT, "render.yaml").read_text())["services"]
    env = {item["key"]: item.get("value") for item in service["envVars"]}
    mount = service["disk"]["mountPath"].rstrip("/") + "/"
    on_disk = lambda path: (path.rstrip("/") + "/").startswith(mount)
    assert on_disk(env["WORKSPACE_ROOT"]) and on_disk(env.get("DATA_DIR", mount))


def test_the_image_carries_what_the_readme_runs():
    dockerfile = Path(ROOT, "Dockerfile").read_text()
    for needed in ("evals", ".env.example", "prompts", "migrations"):
        assert f"COPY {needed}" in dockerfile, needed
