"""Web chat (`/agent`) and the seed's single-shot API (`/agent/run`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from app.channel import Channel
from app.channels.bodies import ChatRequest, RunRequest
from app.conversations.message import Message
from app.conversations.schemas import AgentResponse
from app.http.bodies import error_responses
from app.http.deps import (
    RuntimeDep,
    agent_key_optional,
    agent_key_required,
    api_key_name,
    client_scopes,
    enforce_rate,
    json_reply,
    off_loop,
)
from app.runtime import Runtime

router = APIRouter(tags=["agent"])


@router.post("/agent", response_model=AgentResponse, dependencies=[Depends(agent_key_optional)],
             responses=error_responses(400, 401, 413, 422, 429))
async def agent_chat(body: ChatRequest, request: Request, response: Response, runtime: RuntimeDep) -> Response:
    return await off_loop(runtime, _turn, runtime, request, response, Channel.WEB, body.session_id, body.message)


@router.post("/agent/run", response_model=AgentResponse, dependencies=[Depends(agent_key_required)],
             responses=error_responses(400, 401, 413, 422, 429, 503))
async def agent_run(body: RunRequest, request: Request, response: Response, runtime: RuntimeDep) -> Response:
    return await off_loop(runtime, _turn, runtime, request, response, Channel.API, body.session_id, body.input)


def _turn(runtime: Runtime, request: Request, response: Response, channel: Channel, session_id: str,
          text: str) -> Response:
    enforce_rate(request, response, runtime, client_scopes(request) + [("session", f"{channel}:{session_id}")])
    # An agent's own service (`serve --agent NAME`) answers as that agent: its [agents.NAME] rules hold.
    message = Message(channel=channel, session_id=session_id, text=text, key_name=api_key_name(request),
                      agent=runtime.settings.agent_name or "default")
    return json_reply(runtime.conversations.answer(message), response)
