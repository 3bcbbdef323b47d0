"""`mcp_pins`: what an operator trusted of each MCP server's offered tools."""

from __future__ import annotations

import sqlalchemy as sa

from app.store.tables import BigId, UtcDateTime, metadata

# One row per (server, tool) an operator trusted with `llm-planner mcp trust NAME`: the hash of
# the tool's definition (name, description, input schema) and the definition itself, which is
# what the planner is shown. `changed_hash`: the definition last seen live when it no longer
# matched the pin (the tool is refused until trusted again); null while it matches.
mcp_pins = sa.Table(
    "mcp_pins",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("server", sa.String(64), nullable=False),
    sa.Column("tool", sa.String(128), nullable=False),
    sa.Column("definition_hash", sa.String(64), nullable=False),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("trusted_by", sa.String(128), nullable=False),
    sa.Column("trusted_at", UtcDateTime, nullable=False),
    sa.Column("changed_hash", sa.String(64), nullable=True),
    sa.Column("changed_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("server", "tool", name="uq_mcp_pins_server_tool"),
)
