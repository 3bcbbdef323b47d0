"""`llm-planner doctor`: a good install passes every check (exit 0); each broken one is named
with its fix (exit 1). Run in-process through the CLI's entry; the suite runs as root in CI,
so whether doctor runs as root is patched where the test needs it."""

import os

import pytest

from app.cli import doctor, main
from tests.fake_ollama import FakeOllama
from tests.helpers import free_port

STRONG = "Zr3v9kQ2mX7pL4tW8yB1nC6dF0hJ5sA2"


@pytest.fixture
def ollama():
    with FakeOllama() as server:
        yield server


@pytest.fixture
def setup(backend, tmp_path, monkeypatch, ollama):
    """A good install: a migrated database, a model that answers, a private workspace."""
    _, url, _ = backend
    for name in list(os.environ):
        if name.startswith(("OLLAMA_", "OPENAI_", "ANTHROPIC_", "LLM_", "DB_URL", "AGENT_API", "ADMIN_API",
                            "INTERNAL_API", "API_KEYS", "CONFIRM_", "WORKSPACE_", "POLICY_", "DATA_DIR")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    workspace = tmp_path / "workspace"
    workspace.mkdir(mode=0o750)
    values = dict(DB_URL=url, WORKSPACE_ROOT=str(workspace), DATA_DIR=str(tmp_path / "data"),
                  OLLAMA_BASE_URL=ollama.url, OLLAMA_MODEL="test-model", AGENT_API_KEY=STRONG,
                  CONFIRM_SECRET=STRONG[::-1])
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(doctor, "running_as_root", lambda: False)
    return values


def run(capsys) -> tuple[int, str]:
    code = main(["doctor"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_good_install_passes_every_check(setup, capsys):
    code, said = run(capsys)
    assert code == 0, said
    for check in ("settings", "database", "model", "workspace", "sandbox", "user", "secrets"):
        assert f"✓ {check}" in said
    assert "✗" not in said and "no problems found" in said


@pytest.mark.parametrize("env,says,fix", [
    (dict(DB_URL="mysql+pymysql://root@127.0.0.1:1/nothing"), "✗ database", "start the database or correct DB_URL"),
    (dict(AGENT_API_KEY="change-me"), "AGENT_API_KEY is an example or placeholder", "set a real secret"),
    (dict(API_KEYS="ci-bot:changeme"), "API_KEYS (ci-bot) is an example or placeholder", "set a real secret"),
    (dict(OLLAMA_MODEL=""), "no model is configured", "set OLLAMA_MODEL"),
    (dict(RATE_LIMIT_REQUESTS="many"), "the settings do not load: RATE_LIMIT_REQUESTS", "correct these"),
])
def test_each_broken_setting_is_named_with_its_fix(setup, capsys, monkeypatch, env, says, fix):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, said = run(capsys)
    assert code == 1 and says in said and f"fix: {fix}" in said, said


def test_a_database_behind_the_code_asks_for_migrate(setup, capsys, monkeypatch, empty_db):
    monkeypatch.setenv("DB_URL", empty_db)
    code, said = run(capsys)
    assert code == 1 and "✗ database" in said and "llm-planner migrate" in said, said


def test_a_model_that_does_not_answer(setup, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LLM_MAX_ATTEMPTS", "1")
    code, said = run(capsys)
    assert code == 1 and "✗ model" in said and "does not answer" in said and "fix: start the model" in said


def test_a_workspace_others_may_write_or_that_is_missing(setup, capsys, tmp_path):
    workspace = tmp_path / "workspace"
    workspace.chmod(0o777)
    code, said = run(capsys)
    assert code == 1 and "writable by every user" in said and f"fix: chmod o-w {workspace}" in said
    workspace.rmdir()
    code, said = run(capsys)
    assert code == 1 and "does not exist" in said and f"mkdir -p {workspace}" in said


def test_running_as_root_is_a_problem(setup, capsys, monkeypatch):
    monkeypatch.setattr(doctor, "running_as_root", lambda: True)
    code, said = run(capsys)
    assert code == 1 and "✗ user: running as root" in said and "unprivileged user" in said


def test_a_sandbox_that_does_not_work(setup, capsys, monkeypatch):
    import app.tools.sandbox

    monkeypatch.setattr(app.tools.sandbox, "probe", lambda settings: "bwrap is not installed: apt install bubblewrap")
    code, said = run(capsys)
    assert code == 1 and "✗ sandbox: bwrap is not installed" in said
