"""A delivery's life after it is stored: answered once (now, or later on a background
thread for channels that acknowledge at once), its answer stored, sent out of band where
the channel needs it, and finished after a crash by whoever takes it over."""

from __future__ import annotations

import logging
import threading
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
LATE = {"late": True}  # answer_within: the reply goes out of band when it is ready


class _Handoff:
    """Who delivers an answer that may come late: the waiting request (in its response) or
    the turn's thread (out of band). Decided under one lock, so exactly one of them does."""

    def __init__(self) -> None:
        self.lock, self.ready = threading.Lock(), threading.Event()
        self.data: dict | None = None
        self.late = False


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
        out of band (a late-answering channel's request is gone by now: out of band too)."""
        data = self._answer(delivery)
        self._complete(delivery, data, late=True)
        self._reply(delivery, data)
        return data

    def _answer(self, delivery: Delivery) -> dict:
        response = self.answer(Message(channel=delivery.channel, session_id=delivery.session_id,
                                       text=delivery.text, request_id=delivery.request_id))
        return response.model_dump(mode="json")

    def _complete(self, delivery: Delivery, data: dict, late: bool) -> None:
        # A late answer is marked on the delivery: a repeat of it must not be answered again.
        marked = {**(delivery.reply_to or {}), "late": True} if late and Channel(delivery.channel).answers_late else None
        self.inbox.complete(delivery, data, marked)

    def _reply(self, delivery: Delivery, data: dict) -> None:
        replier = self.repliers.get(Channel(delivery.channel))
        if replier is not None:
            self._send(replier, delivery, data)

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

    def answer_within(self, channel: Channel, message_id: str, session_id: str, text: str,
                      reply_to: dict, seconds: float) -> dict | None:
        """For webhooks that wait a while for the answer (Twilio): the answer with
        `duplicate` when it is ready within `seconds`, else LATE (it is sent out of band when
        ready, and a repeat of the delivery is answered LATE as well: it was answered once);
        None when the first delivery is still being processed elsewhere."""
        delivery, first = self.inbox.accept(channel, message_id, session_id, text, reply_to=reply_to)
        if first:
            return {**self._within(delivery, seconds), "duplicate": False}
        record(self.engine, AuditKind.DUPLICATE_DELIVERY, request_id=delivery.request_id, channel=channel,
               session_id=session_id, message_id=message_id)
        current, taken_over = self.inbox.wait(delivery)
        if taken_over:
            return {**self._within(current, seconds), "duplicate": True}
        if current.status != DeliveryStatus.DONE:
            return None
        if (current.reply_to or {}).get("late"):
            return {**LATE, "duplicate": True}
        return {**current.response, "duplicate": True}

    def _within(self, delivery: Delivery, seconds: float) -> dict:
        handoff = _Handoff()

        def run() -> None:
            data = self._answer(delivery)
            with handoff.lock:
                late = handoff.late
                self._complete(delivery, data, late)  # stored before anyone is answered
                handoff.data = data
            handoff.ready.set()
            if late:
                self._reply(delivery, data)

        self._submit(run)
        handoff.ready.wait(seconds)
        with handoff.lock:
            if handoff.data is not None:
                return handoff.data
            handoff.late = True
        return LATE

    def answer_later(self, delivery: Delivery) -> None:
        self._submit(self.process, delivery)

    def _submit(self, func: Callable, *args) -> None:
        future = self.background.submit(func, *args)
        self._running.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        self._running.discard(future)
        if future.exception() is not None:  # still stored as processing: recovered at the next start
            log.error("answering a delivery failed", exc_info=future.exception())

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
