"""Alembic environment: the URL is the one given by code, else DB_URL from the settings."""

from alembic import context

from app.store.db import create_db_engine
from app.store.tables import metadata
import app.tasks.tables  # noqa: F401  (registers the task tables on metadata)
import app.policy.tables  # noqa: F401  (the policy changes: llm-planner policy)
import app.memory.tables  # noqa: F401  (memory: registers the memories table on metadata)
import app.mcp.tables  # noqa: F401  (MCP: registers mcp_pins on metadata)
import app.agents.tables  # noqa: F401  (registers the agent tables on metadata)
from plugins.customers.records import metadata as customers_metadata

# Every table the migrations keep: the service's and those of the plugins it ships.
target_metadata = [metadata, customers_metadata]

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from app.config import Settings

    url = Settings().db_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        # Batch mode lets later ALTERs run on SQLite as well.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
