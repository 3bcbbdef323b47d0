"""The WhatsApp-style API: a gateway you run posts each message with the internal key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.agent import Agent
from app.deps import AgentDep, check_key, enforce_rate, json_reply, off_loop
from app.schemas import AgentResponse, ChatRequest
from app.turn import Message

router = APIRouter(tags=["channels"])


@router.post("/wa/agent", response_model=AgentResponse)
async def wa_agent(body: ChatRequest, request: Request, response: Response, agent: AgentDep) -> Response:
    return await off_loop(agent, _turn, agent, body, request, response)


def _turn(agent: Agent, body: ChatRequest, request: Request, response: Response) -> Response:
    check_key(request, agent, agent.settings.internal_api_key, name="INTERNAL_API_KEY", required=True)
    # One gateway speaks for every phone: the limit is per phone number, not per address.
    enforce_rate(request, response, agent, [("session", f"wa:{body.session_id}")])
    return json_reply(agent.handle(Message(channel="wa", session_id=body.session_id, text=body.message)),
                      response)
