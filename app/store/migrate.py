"""Alembic, driven from code: `llm-planner migrate`, the SQLite self-migration, the start check."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parents[2]
MYSQL_NO_SUCH_TABLE = 1146
MYSQL_UNKNOWN_DATABASE = 1049


def _not_chatter(record: logging.LogRecord) -> bool:
    # Alembic says these on every look at the revision; a start that fails should say one thing.
    return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_not_chatter)


class SchemaBehind(RuntimeError):
    """The database needs `llm-planner migrate`."""


class SchemaAhead(RuntimeError):
    """The database was migrated by a newer version of the code: only newer code can use it."""


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # '%' would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:  # alembic's "Can't locate revision"
        return False


def _ahead(current: str, head: str | None) -> SchemaAhead:
    return SchemaAhead(
        f"The database schema is at revision {current}, which this code does not know: a newer "
        f"version of llm-planner migrated it (this code's newest is {head}). The code is older "
        f"than the database: upgrade llm-planner. `llm-planner migrate` cannot go back.")


def upgrade(url: str) -> None:
    from app.store.db import create_db_engine

    engine = create_db_engine(url)
    try:
        current, head = revisions(engine)  # raises SchemaAhead before alembic would crash on it
    finally:
        engine.dispose()
    if current != head:
        command.upgrade(alembic_config(url), "head")


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(the database's revision, the code's head); SchemaAhead for a revision the code lacks."""
    script = _script()
    head = script.get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and not _known(script, current):
        raise _ahead(current, head)
    return current, head


def ensure_current(engine: Engine, url: str, migrate_sqlite: bool) -> None:
    current, head = revisions(engine)
    if current == head:
        return
    if migrate_sqlite:
        upgrade(url)
        return
    raise SchemaBehind(
        f"The database schema is at {current or 'nothing (empty database)'}, "
        f"the code needs {head}. Run `llm-planner migrate` first.")


def describe_db_error(exc: Exception, url: str) -> str:
    """One line a user can act on, for a database that cannot be used (never a traceback)."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    orig = getattr(exc, "orig", None)
    code = orig.args[0] if isinstance(exc, DBAPIError) and orig is not None and orig.args else None
    if code == MYSQL_UNKNOWN_DATABASE:
        return (f"The database {parsed.database!r} does not exist on {parsed.host}:{parsed.port or 3306}. "
                f"Create it, e.g. mysql -h {parsed.host} -u {parsed.username} -p -e "
                f"'CREATE DATABASE `{parsed.database}` CHARACTER SET utf8mb4', then run "
                f"`llm-planner migrate`.")
    text = str(orig if orig is not None else exc).strip()
    reason = text.splitlines()[0] if text else type(exc).__name__
    if code == MYSQL_NO_SUCH_TABLE or "no such table" in text:
        return f"The database at {shown} has no schema yet ({reason}): run `llm-planner migrate` first."
    return f"Cannot use the database at {shown}: {reason}"
