"""The statements of `dedupe_messages`: every inbound delivery, stored before it is
acknowledged (unique per channel and message id), and its answer once there is one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.store.tables import dedupe_messages as dm
from app.store.tables import utcnow


class DeliveryStatus(StrEnum):
    PROCESSING = "processing"
    DONE = "done"


@dataclass
class Delivery:
    id: int
    channel: str
    message_id: str
    request_id: str
    session_id: str
    text: str
    reply_to: dict | None
    status: DeliveryStatus
    owner: str
    response: dict | None
    updated_at: Any = None


def insert(engine: Engine, *, channel: str, message_id: str, request_id: str, session_id: str,
           text: str, reply_to: dict | None, owner: str) -> Delivery | None:
    """The stored delivery, or None when this channel's message id was stored before."""
    now = utcnow()
    values = dict(channel=channel, message_id=message_id, request_id=request_id, session_id=session_id,
                  text=text, reply_to=reply_to, status=DeliveryStatus.PROCESSING.value, owner=owner,
                  attempts=1, created_at=now, updated_at=now)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(sa.insert(dm).values(**values)).inserted_primary_key[0]
    except sa.exc.IntegrityError:
        return None
    return Delivery(id=new_id, channel=channel, message_id=message_id, request_id=request_id,
                    session_id=session_id, text=text, reply_to=reply_to,
                    status=DeliveryStatus.PROCESSING, owner=owner, response=None, updated_at=now)


def get(engine: Engine, channel: str, message_id: str) -> Delivery:
    with engine.connect() as conn:
        row = conn.execute(sa.select(dm).where(dm.c.channel == channel, dm.c.message_id == message_id)).one()
    return _delivery(row)


def complete(engine: Engine, delivery_id: int, response: dict, reply_to: dict | None = None) -> None:
    """Store the answer (and, when given, what became of the reply: see Deliveries). The raw
    text goes: it was kept only to answer again after a crash, and it may hold what the
    conversation masks (a confirmation token, a secret argument); `messages` keeps it masked."""
    values = dict(status=DeliveryStatus.DONE.value, response=response, text="", updated_at=utcnow())
    if reply_to is not None:
        values["reply_to"] = reply_to
    with engine.begin() as conn:
        conn.execute(sa.update(dm).where(dm.c.id == delivery_id).values(**values))


def take_over(engine: Engine, delivery_id: int, from_owner: str, to_owner: str) -> bool:
    """One conditional UPDATE: of any number of takers, one wins."""
    with engine.begin() as conn:
        return conn.execute(sa.update(dm).where(
            dm.c.id == delivery_id, dm.c.status == DeliveryStatus.PROCESSING.value, dm.c.owner == from_owner,
        ).values(owner=to_owner, attempts=dm.c.attempts + 1, updated_at=utcnow())).rowcount == 1


def processing(engine: Engine, limit: int) -> list[Delivery]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(dm).where(dm.c.status == DeliveryStatus.PROCESSING.value)
                            .order_by(dm.c.id).limit(limit)).all()
    return [_delivery(row) for row in rows]


def purge_answered(engine: Engine, before: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(sa.delete(dm).where(dm.c.created_at < before,
                                                dm.c.status == DeliveryStatus.DONE.value)).rowcount


def cutoff(days: int) -> datetime:
    return utcnow() - timedelta(days=days)


def _delivery(row) -> Delivery:
    return Delivery(id=row.id, channel=row.channel, message_id=row.message_id, request_id=row.request_id,
                    session_id=row.session_id, text=row.text, reply_to=row.reply_to,
                    status=DeliveryStatus(row.status), owner=row.owner, response=row.response,
                    updated_at=row.updated_at)
