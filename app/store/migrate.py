"""Alembic, driven from code: `llm-planner migrate`, the SQLite self-migration, the start check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


class SchemaBehind(RuntimeError):
    pass


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini")) if (ROOT / "alembic.ini").exists() else Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # '%' would be read as interpolation by configparser.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(the database's revision, the code's head)."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
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
        f"the code needs {head}. Run `llm-planner migrate` first."
    )
