"""Where a message becomes an answer."""

from __future__ import annotations

from app.conversations.deps import TurnDeps
from app.conversations.message import Message
from app.conversations.schemas import AgentResponse
from app.conversations.slots import TurnSlots
from app.conversations.turn import Turn


class Conversations:
    """Where a message becomes an answer: one turn at a time per slot."""

    def __init__(self, deps: TurnDeps, slots: TurnSlots) -> None:
        self.deps, self.slots = deps, slots

    def answer(self, msg: Message) -> AgentResponse:
        with self.slots.working():
            return Turn(self.deps, msg).run()
