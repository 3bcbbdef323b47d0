"""tail_log, run_job, http_get: only what the operator declared, each refusal tried."""

import json
import sys
from http.server import BaseHTTPRequestHandler

import pytest

from tests.fake_http import LoopbackServer
from tests.helpers import chat, plan, rows


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "var" / "app.log"
    path.parent.mkdir()
    path.write_text("".join(f"line {i}\n" for i in range(1, 5001)))
    return path


@pytest.fixture
def api_server():
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append({"path": self.path, "headers": dict(self.headers)})
            if self.path.startswith("/api/v1/redirect"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                self.end_headers()
                return
            body = b"x" * 5000 if self.path.startswith("/api/v1/big") else json.dumps(
                {"ok": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = LoopbackServer()
    server._serve(Handler)
    with server:
        yield server.url, hits


@pytest.fixture
def operator_file(tmp_path, log_file, api_server, workspace):
    (workspace / "jobs").mkdir()
    url, _ = api_server
    path = tmp_path / "operator.toml"
    path.write_text(f"""
[logs]
app = "{log_file}"
missing = "{tmp_path}/nope.log"

[jobs.hello]
argv = ["{sys.executable}", "-c", "import sys, os; print('hello', sys.argv[1:], os.getcwd()); sys.exit(3)", "{{who}}"]
cwd = "jobs"
timeout = 20
params = {{ who = {{ pattern = "^[a-z]{{1,10}}$" }} }}

[jobs.slow]
argv = ["sleep", "30"]
timeout = 1

[jobs.escape]
argv = ["ls"]
cwd = "../.."

[apis.status]
base_url = "{url}/api/v1"
headers = {{ Authorization = "env:STATUS_TOKEN" }}
max_bytes = 1000
""")
    return path


@pytest.fixture
def ops(make_client, operator_file):
    def build(**overrides):
        return make_client(operator_file=operator_file, **overrides)
    return build


def test_tail_log(ops, log_file, model):
    client = ops()
    body = chat(client, "/tail_log name=app lines=3")
    out = body["tool_executions"][0]["output"]
    assert out["content"] == "line 4998\nline 4999\nline 5000" and out["lines"] == 3
    assert chat(client, "/tail_log name=syslog")["tool_executions"][0]["error"].startswith("no log named 'syslog'")
    assert "does not exist" in chat(client, "/tail_log name=missing")["tool_executions"][0]["error"]
    model.push(plan("x", ("tail_log", {"name": str(log_file), "lines": 5})))
    assert chat(client, "tail it")["tool_executions"][0]["status"] == "error"  # a path is not a name


def test_run_job_is_blocked_by_default(ops, engine):
    body = chat(ops(), "/run_job name=hello")
    assert body["tool_executions"][0]["status"] == "blocked" and rows(engine, "pending_confirmations") == []


def test_run_job_missing_parameter_is_refused_before_parking(ops, engine):
    body = chat(ops(blocked_permissions="network"), "/run_job name=hello")
    assert body["tool_executions"][0]["status"] == "error" and "needs parameter" in body["reply"]
    assert rows(engine, "pending_confirmations") == []


def test_run_job_through_a_plan(ops, model, workspace):
    client = ops(blocked_permissions="network")
    model.push(plan("Running it.", ("run_job", {"name": "hello", "params": {"who": "ana"}})))
    parked = chat(client, "say hello to ana")
    [c] = parked["confirmations"]
    assert "run job hello:" in c["preview"] and "ana" in c["preview"] and "(in jobs, timeout" in c["preview"]
    done = chat(client, f"confirm {c['token']}")
    out = done["tool_executions"][0]["output"]
    assert out["exit_code"] == 3 and "hello ['ana']" in out["stdout"] and str(workspace / "jobs") in out["stdout"]


@pytest.mark.parametrize("params,says", [
    ({"who": "ana; rm -rf /"}, "not allowed"), ({"who": "$(id)"}, "not allowed"),
    ({"who": "ana", "extra": "-rf"}, "takes no parameter"), ({}, "needs parameter"),
])
def test_job_parameters_are_refused_before_parking(ops, model, engine, params, says):
    client = ops(blocked_permissions="network")
    model.push(plan("x", ("run_job", {"name": "hello", "params": params})))
    body = chat(client, "go")
    assert body["tool_executions"][0]["status"] == "error" and says in body["tool_executions"][0]["error"]
    assert rows(engine, "pending_confirmations") == []


def test_undeclared_job_cwd_escape_and_timeout(ops, model):
    client = ops(blocked_permissions="network")
    assert "no job named" in chat(client, "/run_job name=rm")["tool_executions"][0]["error"]
    assert "outside the workspace" in chat(client, "/run_job name=escape")["tool_executions"][0]["error"]
    token = chat(client, "/run_job name=slow")["confirmations"][0]["token"]
    out = chat(client, f"confirm {token}")["tool_executions"][0]["output"]
    assert out["timed_out"] is True and out["exit_code"] is None


def test_http_get_is_blocked_by_default(ops, api_server):
    body = chat(ops(), "/http_get api=status path=/health")
    assert body["tool_executions"][0]["status"] == "blocked" and api_server[1] == []


def test_http_get_declared_api(ops, api_server, monkeypatch):
    monkeypatch.setenv("STATUS_TOKEN", "Bearer s3cret")
    client = ops(blocked_permissions="execute")
    body = chat(client, "/http_get api=status path=/health")
    out = body["tool_executions"][0]["output"]
    assert out["status"] == 200 and out["json"] == {"ok": True, "path": "/api/v1/health"}
    assert api_server[1][-1]["headers"]["Authorization"] == "Bearer s3cret"


@pytest.mark.parametrize("path", ["//evil.example/x", "http://evil.example/", "../../admin", "/../secret",
                                  "@evil.example/x", "..\\admin", "/x#frag"])
def test_http_get_refuses_other_hosts_and_paths(ops, api_server, model, path):
    client = ops(blocked_permissions="execute")
    model.push(plan("x", ("http_get", {"api": "status", "path": path})))
    body = chat(client, "go")
    assert body["tool_executions"][0]["status"] == "error" and api_server[1] == []


def test_http_get_undeclared_api_redirects_and_size(ops, api_server):
    client = ops(blocked_permissions="execute")
    assert "no API named" in chat(client, "/http_get api=metadata")["tool_executions"][0]["error"]
    redirect = chat(client, "/http_get api=status path=/redirect")["tool_executions"][0]["output"]
    assert redirect["status"] == 302 and "169.254" in redirect["location"] and len(api_server[1]) == 1
    big = chat(client, "/http_get api=status path=/big")["tool_executions"][0]["output"]
    assert big["truncated"] is True and len(big["text"]) == 1000


def test_bad_operator_file_is_a_clear_error(make_client, tmp_path):
    path = tmp_path / "operator.toml"
    path.write_text('[jobs.x]\nargv = ["echo", "{free}"]\n')
    body = chat(make_client(operator_file=path, blocked_permissions="network"), "/run_job name=x")
    assert "undeclared parameter" in body["tool_executions"][0]["error"]
