"""The WhatsApp-style API: a gateway you run posts each message with the internal key."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.deps import AgentDep, check_key
from app.schemas import AgentResponse, ChatRequest
from app.turn import Message

router = APIRouter(tags=["channels"])


@router.post("/wa/agent", response_model=AgentResponse)
def wa_agent(body: ChatRequest, request: Request, agent: AgentDep) -> AgentResponse:
    check_key(request, agent, agent.settings.internal_api_key, name="INTERNAL_API_KEY", required=True)
    return agent.handle(Message(channel="wa", session_id=body.session_id, text=body.message))
