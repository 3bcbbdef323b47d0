"""The tables of agents: the profiles as the database knows them (so every node and the
console see the same), and the services launched for them."""

from __future__ import annotations

import sqlalchemy as sa

from app.store.tables import BigId, UtcDateTime, metadata

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("endpoint", sa.String(255), nullable=True),  # its service's URL while launched
    sa.Column("status", sa.String(16), nullable=False),  # available | busy | offline
    sa.Column("min_complexity", sa.Integer, nullable=False),
    sa.Column("max_complexity", sa.Integer, nullable=False),
    sa.Column("max_tasks", sa.Integer, nullable=True),
    sa.Column("workspace_path", sa.String(512), nullable=True),
    # False once the profile left AGENTS_FILE: kept (its tasks name it), offline.
    sa.Column("declared", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_active", UtcDateTime, nullable=True),
)

# One row per agent: its service, launched from any node. `host` and `pid` say where it
# runs; the node that launched it supervises it, any node may stop it over HTTP.
agent_services = sa.Table(
    "agent_services",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False),  # starting | running | stopping | stopped | failed
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("port", sa.Integer, nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("url", sa.String(255), nullable=True),
    sa.Column("owner", sa.String(128), nullable=True),  # the supervising node
    sa.Column("restarts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("stopped_at", UtcDateTime, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
