"""run_command, run_python, make_venv, pip_install, git, git_push and the file tools, each
against local stand-ins: a package index and a git server (`git http-backend`) on loopback."""

import base64
import io
import json
import os
import subprocess
import zipfile
from functools import partial
from http.server import (
    BaseHTTPRequestHandler,
    SimpleHTTPRequestHandler,
    ThreadingHTTPServer,
)

import pytest

import plugins.sandboxed as sandboxed
from plugins.git import remote_allowed
from tests.fake_http import LoopbackServer
from tests.helpers import chat, plan, rows

pytestmark = pytest.mark.slow  # real processes
# The database plays no part in what these show: one backend is enough.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
TOKEN = "tok-SECRET-4242"


class GitServer(LoopbackServer):
    """Smart HTTP in front of bare repositories (`git http-backend` as CGI), asking for the
    token as Basic auth (user x-access-token), as GitHub and its kind do."""

    def __init__(self, root, token):
        self.auths = []
        outer = self
        expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def serve(self):
                outer.auths.append(self.headers.get("Authorization"))
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {"GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": self.command,
                       "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                       "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "x", "REMOTE_ADDR": "127.0.0.1",
                       "PATH": os.environ["PATH"]}
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                if self.headers.get("Git-Protocol"):
                    env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, rest = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode().split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                self.wfile.write(rest)

            do_GET = do_POST = serve

        self._serve(Handler)


def _git(*args, cwd=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def operator(tmp_path):
    path = tmp_path / "operator.toml"

    def write(extra=""):
        path.write_text('[commands]\nallow = ["ls", "sleep", "python3", "id"]\n'
                        '[git]\nremotes = ["http://127.0.0.1:*/proj.git"]\ntoken = "env:GIT_TOKEN"\n' + extra)
        return path
    write()
    return write


@pytest.fixture
def tools(make_client, operator, model, monkeypatch):
    monkeypatch.setenv("GIT_TOKEN", TOKEN)

    def build(**overrides):
        client = make_client(operator_file=operator(overrides.pop("extra", "")), blocked_permissions="",
                             max_tool_timeout=60, **overrides)

        def call(name, **args):
            model.push(plan("on it", (name, args)))
            return chat(client, f"please {name}")
        call.client = client
        return call
    return build


@sqlite_only
def test_run_command_runs_in_the_sandbox_without_confirmation(tools, engine, workspace):
    call = tools()
    (workspace / "notes.txt").write_text("hi")
    body = call("run_command", argv=["ls", "-n"])
    [run] = body["tool_executions"]
    assert run["status"] == "success" and "notes.txt" in run["output"]["stdout"]
    assert body["confirmations"] == [] and rows(engine, "pending_confirmations") == []
    assert call("run_command", argv=["id", "-u"])["tool_executions"][0]["output"]["stdout"].strip() != "0"
    for argv, says in ((["cat", "notes.txt"], "not in OPERATOR_FILE [commands] allow"),
                       (["/bin/ls"], "not a path"), (["../ls"], "not a path")):
        [refused] = call("run_command", argv=argv)["tool_executions"]
        assert refused["status"] == "error" and says in refused["error"]


@sqlite_only
def test_a_command_past_its_timeout_is_killed_and_says_so(tools):
    [run] = tools()("run_command", argv=["sleep", "100"], timeout=1)["tool_executions"]
    assert run["status"] == "error" and "timed out" in run["error"] and run["output"]["timed_out"] is True
    assert run["duration_ms"] < 10000


@sqlite_only
def test_without_the_sandbox_sandboxed_tools_ask_first(tools, engine):
    body = tools(sandbox="none")("run_command", argv=["ls"])
    assert [e["status"] for e in body["tool_executions"]] == ["pending_confirmation"]
    assert len(body["confirmations"]) == 1
    assert len(rows(engine, "pending_confirmations")) == 1


@sqlite_only
def test_run_python_code_and_script(tools, workspace):
    call = tools()
    [run] = call("run_python", code="import os, sys; print(os.getuid() != 0, sys.argv[1:])", args=["a"])["tool_executions"]
    assert run["status"] == "success" and run["output"]["stdout"] == "True ['a']\n"
    (workspace / "job.py").write_text("print(open('data.txt').read().upper())")
    (workspace / "data.txt").write_text("from the folder")
    [run] = call("run_python", path="job.py")["tool_executions"]
    assert run["output"]["stdout"] == "FROM THE FOLDER\n"
    assert "outside the workspace" in call("run_python", path="../operator.toml")["tool_executions"][0]["error"]
    assert call("run_python", path="x.py", code="1")["tool_executions"][0]["status"] == "error"


@sqlite_only
def test_file_tools_ask_and_stay_in_the_folder(tools, workspace):
    call = tools()

    def confirmed(name, **args):
        [parked] = call(name, **args)["confirmations"]
        return chat(call.client, f"confirm {parked['token']}")["tool_executions"][0]

    assert confirmed("make_dir", path="a/b")["status"] == "success" and (workspace / "a" / "b").is_dir()
    (workspace / "a" / "b" / "f.txt").write_text("x")
    assert confirmed("move_path", src="a/b", dst="c")["status"] == "success" and (workspace / "c" / "f.txt").exists()
    refused = confirmed("delete_path", path="c")
    assert refused["status"] == "error" and "recursive" in refused["error"] and (workspace / "c").exists()
    assert confirmed("delete_path", path="c", recursive=True)["status"] == "success" and not (workspace / "c").exists()
    for name, args in (("make_dir", {"path": "../out"}), ("move_path", {"src": "a", "dst": "../../x"}),
                       ("delete_path", {"path": "../operator.toml"}), ("delete_path", {"path": "."})):
        body = call(name, **args)
        assert body["confirmations"] == [] and body["tool_executions"][0]["status"] == "error", name


def _wheel(folder):
    """A one-module wheel, and a PEP 503 index page for it."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as wheel:
        wheel.writestr("tinypkg/__init__.py", "VALUE = 42\n")
        wheel.writestr("tinypkg-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n")
        wheel.writestr("tinypkg-0.1.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("tinypkg-0.1.dist-info/RECORD", "tinypkg/__init__.py,,\ntinypkg-0.1.dist-info/METADATA,,\n"
                       "tinypkg-0.1.dist-info/WHEEL,,\ntinypkg-0.1.dist-info/RECORD,,\n")
    (folder / "tinypkg-0.1-py3-none-any.whl").write_bytes(data.getvalue())
    (folder / "simple" / "tinypkg").mkdir(parents=True)
    (folder / "simple" / "tinypkg" / "index.html").write_text(
        '<a href="../../tinypkg-0.1-py3-none-any.whl">tinypkg-0.1-py3-none-any.whl</a>')


@sqlite_only
def test_venv_and_pip_install_from_the_operators_index(tools, tmp_path, workspace):
    index = tmp_path / "index"
    index.mkdir()
    _wheel(index)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(index)))
    import threading
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        call = tools(extra=f'[pip]\nindex_url = "http://127.0.0.1:{server.server_address[1]}/simple/"\n')
        [made] = call("make_venv")["tool_executions"]
        assert made["status"] == "success" and made["output"]["created"] and (workspace / "venv").is_dir()
        assert call("pip_install", packages=["tinypkg; rm -rf /"])["tool_executions"][0]["status"] == "error"
        [parked] = call("pip_install", packages=["tinypkg==0.1"])["confirmations"]
        assert "tinypkg==0.1" in parked["preview"] and f":{server.server_address[1]}/simple/" in parked["preview"]
        [installed] = chat(call.client, f"confirm {parked['token']}")["tool_executions"]
        assert installed["status"] == "success", installed
        [run] = call("run_python", code="import sys, tinypkg; print(tinypkg.VALUE, sys.prefix)")["tool_executions"]
        assert run["output"]["stdout"] == "42 /workspace/venv\n"
    finally:
        server.shutdown()
        server.server_close()


def test_remote_allowlist():
    patterns = ["https://github.com/acme/*", "git@github.com:acme/*", "http://127.0.0.1:*/proj.git"]
    assert remote_allowed("https://github.com/acme/tool.git", patterns) is None
    assert remote_allowed("git@github.com:acme/tool.git", patterns) is None
    for url, says in (("https://github.com/evil/tool.git", "matches no pattern"),
                      ("file:///srv/acme/tool.git", "http(s) and ssh only"),
                      ("ext::sh -c touch% /tmp/x", "not a URL"), ("ext::x", "http(s) and ssh"),
                      ("https://me:pw@github.com/acme/tool.git", "password"),
                      ("/srv/git/acme/tool.git", "http(s) and ssh"), ("--upload-pack=touch", "not a URL")):
        assert says in (remote_allowed(url, patterns) or ""), url


@sqlite_only
def test_git_local_actions_without_network(tools, workspace):
    call = tools()
    assert call("git", action="init", path="repo")["tool_executions"][0]["status"] == "success"
    (workspace / "repo" / "a.txt").write_text("one\n")
    [commit] = call("git", action="commit", path="repo", message="first")["tool_executions"]
    assert commit["status"] == "success" and len(commit["output"]["commit"]) == 40
    (workspace / "repo" / "a.txt").write_text("two\n")
    assert "+two" in call("git", action="diff", path="repo")["tool_executions"][0]["output"]["stdout"]
    assert "M a.txt" in call("git", action="status", path="repo")["tool_executions"][0]["output"]["stdout"]
    assert "first" in call("git", action="log", path="repo")["tool_executions"][0]["output"]["stdout"]
    [refused] = call("git", action="clone", remote="file:///etc")["tool_executions"]
    assert refused["status"] == "error" and "http(s) and ssh only" in refused["error"]


@sqlite_only
def test_git_clone_pull_push_with_the_token_kept_out_of_sight(tools, tmp_path, workspace, engine, monkeypatch):
    bare = tmp_path / "remote" / "proj.git"
    _git("init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    _git("init", "-q", "-b", "main", str(seed))
    (seed / "README").write_text("hello\n")
    _git("add", "-A", cwd=seed)
    _git("commit", "-qm", "seed", cwd=seed)
    _git("push", "-q", str(bare), "main", cwd=seed)
    started = []
    real = sandboxed.run_process
    monkeypatch.setattr(sandboxed, "run_process", lambda argv, **kw: started.append(argv) or real(argv, **kw))
    with GitServer(tmp_path / "remote", TOKEN) as server:
        call = tools()
        url = f"{server.url}/proj.git"
        [cloned] = call("git", action="clone", remote=url)["tool_executions"]
        assert cloned["status"] == "success", cloned
        assert cloned["output"]["path"] == "proj" and (workspace / "proj" / "README").read_text() == "hello\n"
        (workspace / "proj" / "new.txt").write_text("from the agent\n")
        assert call("git", action="commit", path="proj", message="agent")["tool_executions"][0]["status"] == "success"
        assert call("git", action="pull", path="proj")["tool_executions"][0]["status"] == "success"
        body = call("git_push", path="proj")
        [parked] = body["confirmations"]
        assert url in parked["preview"] and "(current branch)" in parked["preview"]
        [pushed] = chat(call.client, f"confirm {parked['token']}")["tool_executions"]
        assert pushed["status"] == "success", pushed
        assert "agent" in _git("log", "--format=%s", "main", cwd=bare)
        # A filter the model could set up in the repository (no confirmation needed for a
        # file inside a task) runs on the pull's checkout, but never with the token.
        _git("pull", "-q", str(bare), "main", cwd=seed)
        (seed / "README").write_text("changed upstream\n")
        _git("commit", "-qam", "upstream", cwd=seed)
        _git("push", "-q", str(bare), "main", cwd=seed)
        with open(workspace / "proj" / ".git" / "config", "a") as config:
            config.write('[filter "x"]\n\tsmudge = "env > /workspace/proj/leak.txt; cat"\n')
        (workspace / "proj" / ".git" / "info").mkdir(exist_ok=True)
        (workspace / "proj" / ".git" / "info" / "attributes").write_text("* filter=x\n")
        [pulled] = call("git", action="pull", path="proj")["tool_executions"]
        assert pulled["status"] == "success", pulled
        assert (workspace / "proj" / "README").read_text() == "changed upstream\n"
        leaked = (workspace / "proj" / "leak.txt").read_text()
        assert "PATH=" in leaked and TOKEN not in leaked  # the filter ran; the token was not there
        assert not list((workspace / "proj" / ".git").glob("llm-planner-*"))  # the scratch repository is gone
        # a repository whose config could redirect git is refused before anything is sent
        with open(workspace / "proj" / ".git" / "config", "a") as config:
            config.write(f'[url "http://127.0.0.1:1/"]\n\tinsteadOf = {url}\n')
        [refused] = call("git", action="pull", path="proj")["tool_executions"]
        assert refused["status"] == "error" and "insteadof" in refused["error"]
    assert any(server.auths)  # the token was sent, to the allowed server
    everything = json.dumps([rows(engine, "messages"), rows(engine, "audit_events"), rows(engine, "pending_confirmations")], default=str)
    assert TOKEN not in everything and TOKEN not in json.dumps(started)
    assert TOKEN not in (workspace / "proj" / ".git" / "config").read_text()


@sqlite_only
def test_inside_a_task_folder_tools_and_sandboxed_tools_run_without_asking(make_client, operator, model, workspace):
    import time
    key = {"X-API-Key": "task-key"}
    model.push(plan("Setting up.", ("make_dir", {"path": "output/data"}),
                    ("run_python", {"code": "open('output/data/n.txt', 'w').write(str(6 * 7))"}),
                    ("run_command", {"argv": ["ls", "output/data"]})),
               plan("Done.", ("finish_task", {"summary": "ok", "files": ["output/data/n.txt"]})))
    client = make_client(operator_file=operator(), blocked_permissions="", agent_api_key="task-key", task_workers=1,
                         task_lease_sec=5, task_poll_sec=0.2)
    task = client.post("/api/tasks", json={"title": "T", "description": "d", "complexity": 2}, headers=key).json()
    deadline = time.monotonic() + 30
    while (done := client.get(f"/api/tasks/{task['id']}", headers=key).json())["status"] not in ("complete", "failed",
                                                                                                   "awaiting_confirmation"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert done["status"] == "complete", done
    assert (workspace / task["workspace"] / "output" / "data" / "n.txt").read_text() == "42"
    assert not (workspace / "output").exists()  # the task's folder, not the workspace
