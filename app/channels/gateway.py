"""The WhatsApp-style API: a gateway you run posts each message with the internal key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.channel import Channel
from app.channels.bodies import ChatRequest
from app.conversations.message import Message
from app.conversations.schemas import AgentResponse
from app.http.bodies import error_responses
from app.http.deps import RuntimeDep, check_key, enforce_rate, json_reply, off_loop
from app.runtime import Runtime

router = APIRouter(tags=["channels"])


@router.post("/wa/agent", response_model=AgentResponse, responses=error_responses(400, 401, 413, 422, 429, 503))
async def wa_agent(body: ChatRequest, request: Request, response: Response, runtime: RuntimeDep) -> Response:
    return await off_loop(runtime, _turn, runtime, body, request, response)


def _turn(runtime: Runtime, body: ChatRequest, request: Request, response: Response) -> Response:
    check_key(request, runtime, runtime.settings.internal_api_key, name="INTERNAL_API_KEY", required=True)
    # One gateway speaks for every phone: the limit is per phone number, not per address.
    enforce_rate(request, response, runtime, [("session", f"{Channel.GATEWAY}:{body.session_id}")])
    message = Message(channel=Channel.GATEWAY, session_id=body.session_id, text=body.message)
    return json_reply(runtime.conversations.answer(message), response)
