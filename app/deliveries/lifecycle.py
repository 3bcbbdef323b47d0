"""A delivery's life after it is stored: answered once (now, or later on a background
thread for channels that acknowledge at once), its answer stored, sent out of band where
the channel needs it, and finished after a crash by whoever takes it over."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable

from sqlalchemy.engine import Engine

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.channel import Channel
from app.conversations.message import Message
from app.conversations.schemas import AgentResponse
from app.deliveries.inbox import Inbox
from app.deliveries.repliers import Replier
from app.deliveries.repository import Delivery, DeliveryStatus

log = logging.getLogger("llm_planner.deliveries")


class Deliveries:
    def __init__(self, engine: Engine, inbox: Inbox, answer: Callable[[Message], AgentResponse],
                 repliers: dict[Channel, Replier]) -> None:
        self.engine, self.inbox, self.answer, self.repliers = engine, inbox, answer, repliers
        # Acknowledged deliveries are answered here, off the request: the connection that
        # brought one is free for the next at once. Stored first, so a crash loses nothing.
        self.background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="inbox")
        self._running: set[Future] = set()

    def process(self, delivery: Delivery) -> dict:
        """Answer a stored delivery, store the answer, and send it where the channel answers
        out of band."""
        response = self.answer(Message(channel=delivery.channel, session_id=delivery.session_id,
                                       text=delivery.text, request_id=delivery.request_id))
        data = response.model_dump(mode="json")
        self.inbox.complete(delivery, data)
        replier = self.repliers.get(Channel(delivery.channel))
        if replier is not None:
            self._send(replier, delivery, data)
        return data

    def _send(self, replier: Replier, delivery: Delivery, data: dict) -> None:
        where = dict(request_id=delivery.request_id, channel=delivery.channel, session_id=delivery.session_id)
        try:
            sent = replier.send(delivery.session_id, delivery.reply_to, data)
            record(self.engine, AuditKind.REPLY_SENT, **where, messages=sent)
        except Exception as exc:  # the answer is stored either way; the failure is on record
            log.warning("could not send the reply for %s: %s", delivery.request_id, exc)
            record(self.engine, AuditKind.REPLY_FAILED, **where, error=str(exc)[:300])

    def answer_now(self, channel: Channel, message_id: str, session_id: str, text: str) -> dict | None:
        """For webhooks answered in their own response: the answer with `duplicate`; None
        when the first delivery of this message is still being processed elsewhere."""
        delivery, first = self.inbox.accept(channel, message_id, session_id, text)
        if first:
            return {**self.process(delivery), "duplicate": False}
        record(self.engine, AuditKind.DUPLICATE_DELIVERY, request_id=delivery.request_id, channel=channel,
               session_id=session_id, message_id=message_id)
        current, taken_over = self.inbox.wait(delivery)
        if taken_over:
            return {**self.process(current), "duplicate": True}
        if current.status == DeliveryStatus.DONE:
            return {**current.response, "duplicate": True}
        return None

    def answer_later(self, delivery: Delivery) -> None:
        future = self.background.submit(self.process, delivery)
        self._running.add(future)
        future.add_done_callback(self._running.discard)

    def drain(self, timeout: float = 30) -> bool:
        """Wait for acknowledged deliveries still being answered; True when none is left."""
        _, left = wait(list(self._running), timeout=timeout)
        return not left

    def recover_unfinished(self) -> int:
        """Finish deliveries a dead process acknowledged but never answered; once each."""
        done = 0
        try:
            for delivery in self.inbox.unfinished():
                if self.inbox.takeover(delivery):
                    record(self.engine, AuditKind.DELIVERY_RECOVERED, request_id=delivery.request_id,
                           channel=delivery.channel, session_id=delivery.session_id,
                           message_id=delivery.message_id)
                    self.process(delivery)
                    done += 1
        except Exception:
            log.exception("recovering unfinished deliveries failed")
        return done
