"""Starting the service (issue 20): the example file, the schema, the database URL, and the
process a new user starts. Each test runs the real command, as a user would."""

import subprocess
import sys

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.config import Settings
from app.startup_checks import ENV_EXAMPLE
from app.store.db import create_db_engine
from app.store.migrate import upgrade
from tests.helpers import CLI, ROOT, cli_env, free_port

pytestmark = pytest.mark.slow  # each test starts real processes
UVICORN = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]


def run(argv, cwd, timeout=60, **env) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=cli_env(**env), capture_output=True, text=True, timeout=timeout)


def refused(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit 1, the words said, and no traceback anywhere."""
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "Traceback" not in said and all(word in said for word in words), said
    return said


def docker_env_file(path) -> dict[str, str]:
    """As `docker run --env-file` reads a file: KEY=VALUE, everything after '=' is the value."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key and not any(c.isspace() for c in key), f"docker refuses {line!r}"
        values[key] = value
    return values


# -- .env.example under `docker run --env-file` ------------------------------------------


def test_env_example_is_valid_as_docker_reads_it(monkeypatch):
    values = docker_env_file(ENV_EXAMPLE)
    assert values, "the example sets the model lines at least"
    for key, value in values.items():
        assert "#" not in value, f"{key}: Docker keeps the comment in the value"
        monkeypatch.setenv(key, value)
    try:
        settings = Settings(_env_file=None)
    except ValidationError as exc:
        pytest.fail(f".env.example under --env-file: {exc}")
    for name in ("AGENT_API_KEY", "ADMIN_API_KEY", "INTERNAL_API_KEY"):
        assert values.get(name, "") == "" and getattr(settings, name.lower()) is None


@pytest.mark.parametrize("setting, value", [
    ("AGENT_API_KEY", "Required on /agent/run; when set, on /agent too:"),  # a comment line
    ("ADMIN_API_KEY", "http://127.0.0.1:11434"),                            # a value
    ("CONFIRM_SECRET", "fresh-and-long-secret-1234,llama-3.3-70b-versatile"),  # one of a rotation
    ("META_VERIFY_TOKEN", "  # operator routes; empty = they answer 503"),  # an inline comment
])
def test_serve_refuses_a_key_copied_from_env_example(tmp_path, setting, value):
    result = run(CLI + ["serve", "--port", str(free_port())], tmp_path, **{setting: value})
    said = refused(result, setting, ".env.example", "secrets.token_urlsafe")
    assert "Uvicorn running" not in said


# -- a schema newer than the code --------------------------------------------------------


def test_schema_newer_than_the_code_says_upgrade_the_code(empty_db, tmp_path):
    upgrade(empty_db)
    engine = create_db_engine(empty_db)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_from_a_newer_release'"))
    engine.dispose()
    for argv in (CLI + ["migrate"], CLI + ["serve", "--port", str(free_port())],
                 UVICORN + ["--port", str(free_port())]):
        said = refused(run(argv, tmp_path, DB_URL=empty_db), "ffff_from_a_newer_release",
                       "older than the database", "upgrade llm-planner")
        assert "Run `llm-planner migrate`" not in said
    with create_db_engine(empty_db).connect() as conn:  # and nothing was touched
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == \
            "ffff_from_a_newer_release"


# -- one clear line instead of a traceback ----------------------------------------------


@pytest.mark.parametrize("db_url", ["postgres://user:pw@db.example.com/app", "foo://x", "agent.db"])
def test_an_unsupported_db_url_names_the_schemes_that_work(tmp_path, db_url):
    for command in (["migrate"], ["serve"], ["audit", "verify"]):
        said = refused(run(CLI + command, tmp_path, DB_URL=db_url), "DB_URL", "sqlite:///",
                       "mysql+pymysql://")
        assert "pw" not in said


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_migrate_to_a_database_that_does_not_exist(backend, tmp_path):
    _, url, _ = backend
    missing = make_url(url).set(database="llm_no_such_database").render_as_string(hide_password=False)
    for command in (["migrate"], ["purge"]):
        said = refused(run(CLI + command, tmp_path, DB_URL=missing), "llm_no_such_database",
                       "does not exist", "CREATE DATABASE")
        assert said.count("\n") <= 2


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)
def test_uvicorn_on_an_empty_schema_says_run_migrate(backend, empty_db, tmp_path):
    result = run(UVICORN + ["--port", str(free_port())], tmp_path, DB_URL=empty_db)
    said = refused(result, "llm-planner migrate", "empty database")
    assert len([line for line in said.splitlines() if '"level": "ERROR"' in line]) == 1


def test_an_unusable_data_dir_is_one_clear_message(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    for command in (["migrate"], ["serve"]):
        refused(run(CLI + command, tmp_path, DATA_DIR=str(blocker / "data"),
                    DB_URL=f"sqlite:///{blocker}/data/agent.db"), "not-a-folder", "is not a folder")


# -- the tests' own output ---------------------------------------------------------------


def test_mysql_half_is_one_summary_line_without_a_database(tmp_path):
    env = {"DOCKER_HOST": "unix:///nonexistent.sock", "TEST_DB_URL": "", "CI": ""}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs",
            f"{ROOT}/tests/test_http.py::test_health", f"{ROOT}/tests/test_http.py::test_agent_key_when_set"]
    out = run(argv, ROOT, timeout=120, **env)
    assert out.returncode == 0, out.stdout
    assert "SKIPPED" not in out.stdout and out.stdout.count("MySQL/MariaDB tests not run") == 1
    assert "TEST_DB_URL=" in out.stdout
    in_ci = run(argv, ROOT, timeout=120, **{**env, "CI": "true"})
    assert in_ci.returncode != 0 and "CI=true" in in_ci.stdout


@pytest.mark.parametrize("backend", ["mysql"], indirect=True)  # a server to be missing a database on
def test_every_command_on_an_unusable_database_is_one_line(backend, tmp_path):
    _, url, _ = backend
    missing = make_url(url).set(database="llm_planner_no_such_db").render_as_string(hide_password=False)
    for command in (["audit", "verify"], ["task", "list"], ["confirmations", "list"]):
        out = subprocess.run(CLI + command, cwd=tmp_path, env=cli_env(DB_URL=missing), capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 1, (command, out.stderr)
        assert "Traceback" not in out.stderr and "does not exist" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_an_unwritable_log_file_is_one_line(tmp_path):
    out = subprocess.run(CLI + ["worker"], cwd=tmp_path, env=cli_env(LOG_FILE="/proc/no-such/agent.log"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "LOG_FILE" in out.stderr
