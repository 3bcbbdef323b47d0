"""SQL of the policy changes; each is written with its audit event, in one transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.audit.chain import AuditTrail
from app.audit.kinds import AuditKind
from app.observability.logs import request_id_var
from app.policy.tables import policy_changes as pc
from app.store.tables import utcnow
from app.store.transactions import writing
from app.tools.policy import Change, Subject


def add(engine: Engine, change: Change, by: str) -> int:
    trail = AuditTrail(request_id_var.get(), None, None)
    with writing(engine) as conn:
        change_id = conn.execute(sa.insert(pc).values(
            action=change.action, subject=change.subject.value, name=change.name, tool=change.tool,
            changed_by=by, created_at=utcnow())).inserted_primary_key[0]
        trail.add(AuditKind.POLICY_CHANGED, change_id=change_id, action=change.action,
                  subject=change.subject.value, name=change.name, tool=change.tool, changed_by=by)
        trail.flush(conn)
    trail.committed()
    return change_id


def changes(engine: Engine) -> list[Change]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(pc.c.action, pc.c.subject, pc.c.name, pc.c.tool).order_by(pc.c.id)).all()
    return as_changes(found)


def as_changes(found) -> list[Change]:
    return [Change(row.action, Subject(row.subject), row.name, row.tool) for row in found]


def history(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.select(pc).order_by(pc.c.id)).all()
