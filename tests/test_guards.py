"""Channel policies and the limits on tools that start processes."""


import pytest

from app.tools.policy import PolicyError, load_policy
from app.tools.process_runner import run_process
from tests.helpers import chat, plan, rows

POLICY = """
[channels.web]
deny = ["register_customer"]

[channels.wa]
allow = ["health_check", "list_dir"]
"""


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


def test_policy_narrows_tools_per_channel(make_client, model, policy_file, engine, workspace):
    client = make_client(policy_file=policy_file, internal_api_key="k")
    denied = chat(client, "/register_customer name=Ana email=ana@example.com")
    assert denied["status"] == "tool_error" and denied["tool_executions"][0]["status"] == "blocked"
    assert "POLICY_FILE" in denied["tool_executions"][0]["error"] and rows(engine, "pending_confirmations") == []

    wa = lambda text: client.post("/wa/agent", json={"message": text, "session_id": "+1"},
                                  headers={"x-api-key": "k"}).json()
    assert wa("/list_dir")["status"] == "success"
    (workspace / "f.txt").write_text("secret")
    assert wa("/read_file path=f.txt")["tool_executions"][0]["status"] == "blocked"
    catalogue = wa("/tools")["reply"]
    assert "/list_dir" in catalogue and "/read_file" not in catalogue

    model.push(plan("x", ("read_file", {"path": "f.txt"})))
    planned = wa("read f.txt")
    system = model.calls[0]["messages"][0]["content"]
    assert "- read_file" not in system and "- list_dir" in system  # the model is not even offered it
    assert planned["tool_executions"][0]["status"] == "blocked" and "secret" not in str(planned)


@pytest.mark.parametrize("text,says", [
    ("[channels.sms]\nallow = []", "unknown channel"),
    ("[channels.web]\nallow = 'list_dir'", "list of tool names"),
    ("[channels.web]\npermit = []", "only allow and deny"),
    ("not toml = = =", "POLICY_FILE"),
])
def test_bad_policy_files_are_refused_at_start(tmp_path, text, says):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=says):
        load_policy(path)


PY = "python3"  # the sandbox sees the system's directories, not the service's venv


def test_process_argv_only_no_shell(tmp_path):
    result = run_process(["echo", "$HOME; rm -rf /", "`id`"], cwd=tmp_path, timeout=5)
    assert result.exit_code == 0 and result.stdout == "$HOME; rm -rf / `id`\n"


def test_process_environment_is_scrubbed(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    result = run_process([PY, "-c", "import os; print(sorted(os.environ))"], cwd=tmp_path, timeout=10,
                         env={"JOB": "backup"})
    assert "DB_PASSWORD" not in result.stdout and "'JOB'" in result.stdout


def test_process_timeout_kills_the_group(tmp_path):
    result = run_process(["sh", "-c", "sleep 30 & sleep 30"], cwd=tmp_path, timeout=0.5)
    assert result.timed_out and result.exit_code is None and result.duration_ms < 5000


def test_process_resource_limits(tmp_path):
    cpu = run_process([PY, "-c", "while True: pass"], cwd=tmp_path, timeout=20, cpu_seconds=1)
    assert cpu.exit_code != 0 and not cpu.timed_out
    memory = run_process([PY, "-c", "x = bytearray(800 * 2**20)"], cwd=tmp_path, timeout=20, memory_mb=200)
    assert memory.exit_code != 0 and "MemoryError" in memory.stderr
    big = run_process([PY, "-c", "open('big', 'wb').write(b'x' * 5 * 2**20)"], cwd=tmp_path, timeout=20,
                      file_size_mb=1)
    assert big.exit_code != 0 and (tmp_path / "big").stat().st_size <= 2**20


def test_process_output_is_capped(tmp_path):
    result = run_process([PY, "-c", "print('y' * 50000)"], cwd=tmp_path, timeout=10, max_output=100)
    assert result.truncated and len(result.stdout) == 100


def test_process_refuses_bad_argv(tmp_path):
    for argv in ([], [""], ["ls", 5]):
        with pytest.raises(ValueError):
            run_process(argv, cwd=tmp_path, timeout=1)
