"""tail_log, run_job, http_get: only what the operator declared, each refusal tried."""

import json
import subprocess
from http.server import BaseHTTPRequestHandler

import pytest

from tests.fake_http import LoopbackServer
from tests.helpers import CLI, chat, cli_env, plan, rows


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
argv = ["python3", "-c", "import sys, os; print('hello', sys.argv[1:], os.getcwd()); sys.exit(3)", "{{who}}"]
cwd = "jobs"
timeout = 20
params = {{ who = {{ pattern = "^[a-z]{{1,10}}$" }} }}

[jobs.slow]
argv = ["sh", "-c", "echo started; sleep 30"]
timeout = 1

[jobs.fine]
argv = ["python3", "-c", "print('all good')"]

[jobs.noisy]
argv = ["python3", "-c", "import sys; [print('err', i, file=sys.stderr) for i in range(40)]; print('out'); sys.exit(2)"]

[jobs.nowhere]
argv = ["make"]
cwd = "build"

[jobs.backup]
argv = ["python3", "-c", "print('backed up')"]
timeout = 120

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
def ops(make_client, operator_file, monkeypatch):
    monkeypatch.setenv("STATUS_TOKEN", "Bearer s3cret")  # unset, calls to the API are refused
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
    [execution] = done["tool_executions"]
    assert done["status"] == "tool_error" and execution["status"] == "error"  # it exited 3
    assert execution["error"].startswith("job 'hello' failed with exit code 3; last lines of stdout:")
    assert "hello ['ana']" in execution["error"] and "/workspace/jobs" in execution["error"]  # the sandbox sees the workspace at /workspace
    assert "Confirmed, but run_job failed" in done["reply"] and "ran." not in done["reply"]


def confirmed(client, command: str) -> dict:
    token = chat(client, command)["confirmations"][0]["token"]
    return chat(client, f"confirm {token}")


def test_a_job_that_exits_zero_succeeds(ops):
    done = confirmed(ops(blocked_permissions="network"), "/run_job name=fine")
    out = done["tool_executions"][0]["output"]
    assert done["status"] == "success" and out["exit_code"] == 0 and out["stdout"] == "all good\n"
    assert "Confirmed: run_job ran." in done["reply"]


def test_a_failed_job_shows_the_tail_of_its_stderr(ops):
    done = confirmed(ops(blocked_permissions="network"), "/run_job name=noisy")
    error = done["tool_executions"][0]["error"]
    assert done["status"] == "tool_error" and "exit code 2" in error and "last lines of stderr" in error
    assert "err 39" in error and "err 20" in error and "err 19\n" not in error and "out" not in error


def test_a_job_whose_folder_is_missing_says_so(ops, engine):
    body = chat(ops(blocked_permissions="network"), "/run_job name=nowhere")
    [execution] = body["tool_executions"]
    assert execution["status"] == "error" and "'build' does not exist" in execution["error"]
    assert "not found" not in execution["error"] and rows(engine, "pending_confirmations") == []


@pytest.mark.parametrize("params", ["params.who=ana", "params='{\"who\": \"ana\"}'", 'params={"who": "ana"}'])
def test_job_parameters_from_a_direct_command(ops, params):
    body = chat(ops(blocked_permissions="network"), f"/run_job name=hello {params}")
    [c] = body["confirmations"]
    assert c["args"] == {"name": "hello", "params": {"who": "ana"}} and "ana" in c["preview"]


def test_http_get_query_parameters_from_a_direct_command(ops, api_server):
    client = ops(blocked_permissions="execute")
    out = chat(client, "/http_get api=status path=/search params.q=disk params.limit=5")["tool_executions"][0]
    assert out["status"] == "success" and out["output"]["json"]["path"] == "/api/v1/search?q=disk&limit=5"


def test_a_job_timeout_above_the_tool_limit_is_reported(ops, operator_file, make_settings):
    from app.tools.operator_file import operator_warnings

    assert operator_warnings(make_settings(operator_file=operator_file)) == [
        "job backup: timeout 120s is above MAX_TOOL_TIMEOUT=30, it gets 29s"]
    assert operator_warnings(make_settings(operator_file=operator_file, max_tool_timeout=200)) == []
    preview = chat(ops(blocked_permissions="network"), "/run_job name=backup")["confirmations"][0]["preview"]
    assert "timeout 29s" in preview


@pytest.mark.slow
def test_tools_command_shows_cut_job_timeouts(operator_file, tmp_path):
    out = subprocess.run(CLI + ["tools"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env=cli_env(OPERATOR_FILE=str(operator_file), DB_URL=f"sqlite:///{tmp_path}/a.db"))
    assert out.returncode == 0, out.stderr
    run_job = out.stdout[out.stdout.index("run_job"):]
    assert "job backup: timeout 120s is above MAX_TOOL_TIMEOUT=30, it gets 29s" in run_job


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
    done = confirmed(client, "/run_job name=slow")
    [execution] = done["tool_executions"]
    assert done["status"] == "tool_error" and execution["status"] == "error"
    assert execution["error"].startswith("job 'slow' timed out after 1s") and "started" in execution["error"]
    assert execution["output"]["timed_out"] is True


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
