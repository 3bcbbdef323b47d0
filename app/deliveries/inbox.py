"""Inbound deliveries, exactly once: stored before they are acknowledged or processed; a
duplicate gets the first one's stored answer; a delivery left unfinished by a dead
process (or past its lease) is taken over by one taker."""

from __future__ import annotations

import os
import secrets
import socket
import time
import uuid
from datetime import timedelta

import psutil
from sqlalchemy.engine import Engine

from app.deliveries import repository
from app.deliveries.repository import Delivery, DeliveryStatus
from app.store.tables import utcnow

HOST = socket.gethostname()
# pid alone is not enough: in a container every incarnation is pid 1.
OWNER = f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"


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
        stored = repository.insert(self.engine, channel=channel, message_id=message_id,
                                   request_id=str(uuid.uuid4()), session_id=session_id, text=text,
                                   reply_to=reply_to, owner=OWNER)
        if stored is not None:
            return stored, True
        return repository.get(self.engine, channel, message_id), False

    def complete(self, delivery: Delivery, response: dict, reply_to: dict | None = None) -> None:
        repository.complete(self.engine, delivery.id, response, reply_to)
        delivery.status, delivery.response = DeliveryStatus.DONE, response
        if reply_to is not None:
            delivery.reply_to = reply_to

    def takeover(self, delivery: Delivery) -> bool:
        """Claim an unfinished delivery from its (gone or expired) owner; one caller wins."""
        won = repository.take_over(self.engine, delivery.id, delivery.owner, OWNER)
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
            current = repository.get(self.engine, delivery.channel, delivery.message_id)
            if current.status == DeliveryStatus.DONE:
                return current, False
            if self.abandoned(current) and self.takeover(current):
                return current, True
            if time.monotonic() >= deadline:
                return current, False
            time.sleep(pause)
            pause = min(pause * 1.5, 0.25)

    def unfinished(self, limit: int = 100) -> list[Delivery]:
        return [d for d in repository.processing(self.engine, limit) if self.abandoned(d)]

    def purge(self, older_than_days: int) -> int:
        return repository.purge_answered(self.engine, repository.cutoff(older_than_days))
