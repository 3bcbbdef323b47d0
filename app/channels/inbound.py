"""What the synchronous webhook routes share: store, process once, or answer a duplicate."""

from __future__ import annotations

from fastapi import Request, Response

from app.agent import Agent
from app.audit import record
from app.deps import enforce_rate


def limited_delivery(agent: Agent, request: Request, response: Response, channel: str, message_id: str,
                     sender: str, text: str) -> dict | None:
    """The sender's rate limit, then `handle_delivery`: run together, on one thread hand-off."""
    enforce_rate(request, response, agent, [("session", f"{channel}:{sender}")])
    return handle_delivery(agent, channel, message_id, sender, text)


def handle_delivery(agent: Agent, channel: str, message_id: str, session_id: str,
                    text: str) -> dict | None:
    """The answer with `duplicate`; None when the first delivery is still being processed."""
    delivery, first = agent.inbox.accept(channel, message_id, session_id, text)
    if first:
        return {**agent.process_delivery(delivery), "duplicate": False}
    record(agent.engine, "duplicate_delivery", request_id=delivery.request_id, channel=channel,
           session_id=session_id, message_id=message_id)
    current, taken_over = agent.inbox.wait(delivery)
    if taken_over:
        return {**agent.process_delivery(current), "duplicate": True}
    if current.status == "done":
        return {**current.response, "duplicate": True}
    return None


def still_processing() -> dict:
    return {"detail": "the first delivery of this message is still being processed; retry later"}
