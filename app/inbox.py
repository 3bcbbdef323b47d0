"""Inbound deliveries, exactly once: stored (unique per channel and message id) before they
are acknowledged or processed; a duplicate gets the first one's stored answer; a delivery
left unfinished by a dead process is taken over, by one taker, with a conditional UPDATE."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.store.tables import dedupe_messages as dm
from app.store.tables import utcnow

log = logging.getLogger("llm_planner.inbox")

HOST = socket.gethostname()
# pid alone is not enough: in a container every incarnation is pid 1.
OWNER = f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Delivery:
    id: int
    channel: str
    message_id: str
    request_id: str
    session_id: str
    text: str
    reply_to: dict | None
    status: str
    owner: str
    response: dict | None
    updated_at: Any = None


def owner_is_gone(owner: str) -> bool:
    """True only when we can tell: the owner ran on this host and is not running any more."""
    try:
        host, pid_text, nonce = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != HOST:
        return False
    if pid == os.getpid():
        return owner != OWNER  # an earlier incarnation with our pid
    return not psutil.pid_exists(pid)


class Inbox:
    def __init__(self, engine: Engine, lease_sec: int, wait_sec: float) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease_sec)
        self.wait_sec = wait_sec

    def accept(self, channel: str, message_id: str, session_id: str, text: str,
               reply_to: dict | None = None) -> tuple[Delivery, bool]:
        """(the delivery, True when this call stored it first and must process it)."""
        now = utcnow()
        values = dict(channel=channel, message_id=message_id, request_id=str(uuid.uuid4()),
                      session_id=session_id, text=text, reply_to=reply_to, status="processing",
                      owner=OWNER, attempts=1, created_at=now, updated_at=now)
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(sa.insert(dm).values(**values)).inserted_primary_key[0]
            return Delivery(id=new_id, channel=channel, message_id=message_id,
                            request_id=values["request_id"], session_id=session_id, text=text,
                            reply_to=reply_to, status="processing", owner=OWNER, response=None,
                            updated_at=now), True
        except sa.exc.IntegrityError:
            return self.get(channel, message_id), False

    def get(self, channel: str, message_id: str) -> Delivery:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(dm).where(dm.c.channel == channel,
                                                   dm.c.message_id == message_id)).one()
        return _delivery(row)

    def complete(self, delivery: Delivery, response: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(dm).where(dm.c.id == delivery.id).values(
                status="done", response=response, updated_at=utcnow()))
        delivery.status, delivery.response = "done", response

    def takeover(self, delivery: Delivery) -> bool:
        """Claim an unfinished delivery from its (gone or expired) owner; one caller wins."""
        with self.engine.begin() as conn:
            won = conn.execute(sa.update(dm).where(
                dm.c.id == delivery.id, dm.c.status == "processing", dm.c.owner == delivery.owner,
            ).values(owner=OWNER, attempts=dm.c.attempts + 1, updated_at=utcnow())).rowcount == 1
        if won:
            delivery.owner = OWNER
        return won

    def abandoned(self, delivery: Delivery) -> bool:
        expired = delivery.updated_at is not None and delivery.updated_at < utcnow() - self.lease
        return delivery.owner != OWNER and (expired or owner_is_gone(delivery.owner))

    def wait(self, delivery: Delivery) -> tuple[Delivery, bool]:
        """Wait (bounded) for the first delivery's answer. (delivery, True) when the caller
        took it over and must process it; a delivery still unfinished comes back as is."""
        deadline = time.monotonic() + self.wait_sec
        pause = 0.02
        while True:
            current = self.get(delivery.channel, delivery.message_id)
            if current.status == "done":
                return current, False
            if self.abandoned(current) and self.takeover(current):
                return current, True
            if time.monotonic() >= deadline:
                return current, False
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)

    def unfinished(self, limit: int = 100) -> list[Delivery]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(dm).where(dm.c.status == "processing")
                                .order_by(dm.c.id).limit(limit)).all()
        return [d for d in map(_delivery, rows) if self.abandoned(d)]

    def purge(self, older_than_days: int) -> int:
        cutoff = utcnow() - timedelta(days=older_than_days)
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(dm).where(dm.c.created_at < cutoff,
                                                    dm.c.status == "done")).rowcount


def _delivery(row) -> Delivery:
    return Delivery(id=row.id, channel=row.channel, message_id=row.message_id, request_id=row.request_id,
                    session_id=row.session_id, text=row.text, reply_to=row.reply_to, status=row.status,
                    owner=row.owner, response=row.response, updated_at=row.updated_at)
