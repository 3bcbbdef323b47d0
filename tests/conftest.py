"""Fixtures: each test runs on SQLite and on MySQL/MariaDB, both built by the Alembic
migrations users run, driving the real app over HTTP with a scripted model."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.audit.chain import GENESIS
from app.config import Settings
from app.llm.scripted import ScriptedModel
from app.main import create_app
from app.runtime import Runtime
from app.store.db import create_db_engine
from app.store.migrate import upgrade
from app.store.tables import metadata
from plugins.customers.records import metadata as customers_metadata
from tests.helpers import TEST_SECRET

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Children first, so foreign keys never stand in the way of a delete.
TABLES = [*reversed(customers_metadata.sorted_tables), *reversed(metadata.sorted_tables)]


def _mysql_url() -> str | None:
    url = os.environ.get("TEST_DB_URL")
    if url:
        url = url.replace("mysql://", "mysql+pymysql://", 1) if url.startswith("mysql://") else url
        return _own_database(url)
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return None
    from testcontainers.mysql import MySqlContainer

    container = MySqlContainer("mysql:8.0").start()
    _mysql_url.container = container  # kept alive for the session
    return container.get_connection_url().replace("mysql://", "mysql+pymysql://", 1)


def _own_database(url: str) -> str:
    """Under pytest-xdist each worker process empties and fills its tables at will: it gets a
    database of its own beside TEST_DB_URL's (`NAME_gw0`, …), made here and dropped at the end."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    server = create_db_engine(parsed.set(database="").render_as_string(hide_password=False))
    with server.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
    server.dispose()
    _own_database.made = name
    return parsed.set(database=name).render_as_string(hide_password=False)


def _drop_own_database(url: str) -> None:
    name = getattr(_own_database, "made", None)
    if name:
        server = create_db_engine(make_url(url).set(database="").render_as_string(hide_password=False))
        with server.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


def _mysql_reachable() -> bool:
    if os.environ.get("TEST_DB_URL"):
        return True
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


MYSQL_LEFT_OUT = pytest.StashKey[int]()


def pytest_collection_modifyitems(config, items):
    """Without a MySQL, its half of the suite is left out with one summary line, not a
    SKIPPED line per test; under CI=true it stays in, and fails."""
    if IN_CI or _mysql_reachable():
        return
    mysql = {id(item) for item in items
             if getattr(item, "callspec", None) and item.callspec.params.get("backend") == "mysql"}
    if mysql:
        config.hook.pytest_deselected(items=[item for item in items if id(item) in mysql])
        items[:] = [item for item in items if id(item) not in mysql]
        config.stash[MYSQL_LEFT_OUT] = len(mysql)


def pytest_terminal_summary(terminalreporter, config):
    left_out = config.stash.get(MYSQL_LEFT_OUT, 0)
    # Under pytest-xdist the workers collect (and leave the MySQL half out); the controller,
    # which writes the summary, only knows whether there was a database to run it on.
    xdist_controller = bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")
    if left_out or (xdist_controller and not IN_CI and not _mysql_reachable()):
        terminalreporter.write_line(
            f"{left_out or 'The'} MySQL/MariaDB tests not run (no TEST_DB_URL, no Docker): run them with "
            "TEST_DB_URL=mysql+pymysql://root@127.0.0.1:3306/test uv run pytest")


def _fresh_schema(url: str) -> sa.Engine:
    engine = create_db_engine(url)
    with engine.begin() as conn:  # a database a previous run left behind starts empty again
        customers_metadata.drop_all(conn)
        metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(url)
    return engine


@pytest.fixture(scope="session", params=["sqlite", "mysql"])
def backend(request, tmp_path_factory) -> tuple[str, str, sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/agent.db"
    else:
        url = _mysql_url()
        if url is None:
            message = "MySQL tests need TEST_DB_URL or Docker"
            if IN_CI:
                pytest.fail(message + " (CI=true: a skipped MySQL test is a failure)")
            pytest.skip(message)
    engine = _fresh_schema(url)
    yield request.param, url, engine
    engine.dispose()
    if request.param == "mysql":
        _drop_own_database(url)


@pytest.fixture
def engine(backend) -> sa.Engine:
    _, _, engine = backend
    with engine.begin() as conn:
        for table in TABLES:
            if table.name == "audit_head":  # seeded by the migration: reset, never removed
                conn.execute(table.update().values(last_hash=GENESIS, events=0))
            else:
                conn.execute(table.delete())
    return engine


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "workspace"
    root.mkdir()
    return root


@pytest.fixture
def make_settings(backend, tmp_path, workspace):
    _, url, _ = backend

    def build(**overrides) -> Settings:
        # Most tests send more than ten requests a minute; the limit has its own tests.
        values = dict(db_url=url, workspace_root=workspace, data_dir=tmp_path / "data",
                      confirm_secret=TEST_SECRET, ollama_model="test-model", rate_limit_enabled=False,
                      task_workers=0)  # task tests ask for their own slots
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
def make_client(make_settings, engine, model):
    """make_client(**settings) -> a TestClient on a fresh app sharing the test's database."""
    clients = []

    def build(model_=None, registry=None, **overrides) -> TestClient:
        settings = make_settings(**overrides)
        runtime = Runtime(settings, engine=engine, model=model_ or model, registry=registry)
        client = TestClient(create_app(settings, runtime=runtime))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def tasks_client(make_client):
    """tasks_client(**settings) -> a client with one in-process task slot, short leases and
    polls, and the API key "task-key"."""
    def build(**overrides):
        values = dict(agent_api_key="task-key", task_workers=1, task_lease_sec=5, task_poll_sec=0.2)
        values.update(overrides)
        return make_client(**values)
    return build

@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture
def empty_db(backend, tmp_path):
    """A database with no schema at all: a new SQLite file, or a new MySQL database."""
    kind, url, _ = backend
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    parsed = make_url(url)
    name = f"{parsed.database}_fresh"
    server = create_db_engine(parsed.set(database="").render_as_string(hide_password=False))
    with server.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    yield parsed.set(database=name).render_as_string(hide_password=False)
    with server.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    server.dispose()


class Mailbox:
    """A stand-in SMTP server's inbox: what was delivered to it."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def smtp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, mailbox
    controller.stop()

