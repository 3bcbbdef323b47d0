"""Web chat (`/agent`) and the seed's single-shot API (`/agent/run`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.agent import Agent
from app.deps import AgentDep, agent_key_optional, agent_key_required, client_scopes, enforce_rate, json_reply, off_loop
from app.schemas import AgentResponse, ChatRequest, RunRequest
from app.turn import Message

router = APIRouter(tags=["agent"])


@router.post("/agent", response_model=AgentResponse, dependencies=[Depends(agent_key_optional)])
async def agent_chat(body: ChatRequest, request: Request, response: Response, agent: AgentDep) -> Response:
    return await off_loop(agent, _turn, agent, request, response, "web", body.session_id, body.message)


@router.post("/agent/run", response_model=AgentResponse, dependencies=[Depends(agent_key_required)])
async def agent_run(body: RunRequest, request: Request, response: Response, agent: AgentDep) -> Response:
    return await off_loop(agent, _turn, agent, request, response, "api", body.session_id, body.input)


def _turn(agent: Agent, request: Request, response: Response, channel: str, session_id: str, text: str) -> Response:
    enforce_rate(request, response, agent, client_scopes(request) + [("session", f"{channel}:{session_id}")])
    return json_reply(agent.handle(Message(channel=channel, session_id=session_id, text=text)), response)
