"""The statements of `mcp_pins`: what an operator trusted, and a definition seen changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.mcp.tables import mcp_pins
from app.store.tables import utcnow


def definition_hash(definition: dict[str, Any]) -> str:
    canonical = json.dumps([definition.get("name"), definition.get("description") or "",
                            definition.get("inputSchema")], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def of_server(engine: Engine, server: str) -> dict[str, Any]:
    """tool name -> its pin row."""
    with engine.connect() as conn:
        return {row.tool: row for row in conn.execute(sa.select(mcp_pins).where(mcp_pins.c.server == server))}


def all_pins(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(mcp_pins).order_by(mcp_pins.c.server, mcp_pins.c.tool)))


def trust(engine: Engine, server: str, definitions: list[dict[str, Any]], by: str) -> list[dict[str, str]]:
    """Pin exactly these definitions for `server` (earlier pins of it are replaced); what was pinned."""
    now, pinned = utcnow(), []
    with engine.begin() as conn:
        conn.execute(sa.delete(mcp_pins).where(mcp_pins.c.server == server))
        for item in definitions:
            digest = definition_hash(item)
            conn.execute(sa.insert(mcp_pins).values(server=server, tool=item["name"], definition_hash=digest,
                                                    definition=item, trusted_by=by[:128], trusted_at=now))
            pinned.append({"tool": item["name"], "hash": digest})
    record(engine, AuditKind.MCP_TRUSTED, server=server, pins=pinned, trusted_by=by)
    return pinned


def note_change(engine: Engine, server: str, tool: str, live_hash: str) -> bool:
    """Mark the pin changed (once per new definition: a conditional UPDATE, so many workers
    seeing it at once audit it once); True when this call marked it."""
    with engine.begin() as conn:
        marked = conn.execute(
            sa.update(mcp_pins)
            .where(mcp_pins.c.server == server, mcp_pins.c.tool == tool,
                   mcp_pins.c.definition_hash != live_hash,
                   sa.or_(mcp_pins.c.changed_hash.is_(None), mcp_pins.c.changed_hash != live_hash))
            .values(changed_hash=live_hash, changed_at=utcnow())).rowcount == 1
    if marked:
        record(engine, AuditKind.MCP_TOOL_CHANGED, server=server, tool=tool, live_hash=live_hash)
    return marked
