"""Web chat (`/agent`) and the seed's single-shot API (`/agent/run`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.deps import AgentDep, agent_key_optional, agent_key_required, client_scopes, enforce_rate, json_reply
from app.schemas import AgentResponse, ChatRequest, RunRequest
from app.turn import Message

router = APIRouter(tags=["agent"])


@router.post("/agent", response_model=AgentResponse, dependencies=[Depends(agent_key_optional)])
def agent_chat(body: ChatRequest, request: Request, response: Response, agent: AgentDep) -> Response:
    enforce_rate(request, response, agent, client_scopes(request) + [("session", f"web:{body.session_id}")])
    return json_reply(agent.handle(Message(channel="web", session_id=body.session_id, text=body.message)),
                      response)


@router.post("/agent/run", response_model=AgentResponse, dependencies=[Depends(agent_key_required)])
def agent_run(body: RunRequest, request: Request, response: Response, agent: AgentDep) -> Response:
    enforce_rate(request, response, agent, client_scopes(request) + [("session", f"api:{body.session_id}")])
    return json_reply(agent.handle(Message(channel="api", session_id=body.session_id, text=body.input)),
                      response)
