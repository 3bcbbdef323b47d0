"""Twilio (SMS and WhatsApp): a signed form post in, TwiML out."""

from __future__ import annotations

from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from app.audit import record
from app.channels.inbound import limited_delivery, still_processing
from app.channels.signatures import SignatureError, verify_twilio
from app.deps import AgentDep, off_loop

router = APIRouter(tags=["channels"])


def signed_url(request: Request, public_base_url: str | None) -> str:
    """The URL Twilio signed: ours as the world sees it, when a proxy stands in front."""
    if not public_base_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public_base_url.rstrip("/") + request.url.path + query


def twiml(text: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(text[:1600])}</Message></Response>'


@router.post("/provider/twilio")
async def twilio_inbound(request: Request, response: Response, agent: AgentDep):
    token = agent.settings.twilio_auth_token
    if not token:
        raise HTTPException(503, "TWILIO_AUTH_TOKEN is not configured on this server")
    raw = await request.body()
    params = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    try:
        verify_twilio(request.headers.get("x-twilio-signature"), token,
                      signed_url(request, agent.settings.public_base_url), params)
    except SignatureError as exc:
        await run_in_threadpool(record, agent.engine, "signature_rejected", channel="twilio",
                                route=request.url.path, reason=exc.reason)
        raise HTTPException(401, "invalid Twilio signature") from None
    form = dict(params)
    missing = [name for name in ("MessageSid", "From", "Body") if not form.get(name)]
    if missing:
        raise RequestValidationError([{"loc": ("body", name), "type": "missing", "msg": "Field required"}
                                      for name in missing])
    answer = await off_loop(agent, limited_delivery, agent, request, response, "twilio", form["MessageSid"][:191],
                            form["From"][:128], form["Body"][:10000])
    if answer is None:
        return JSONResponse(still_processing(), status_code=503, headers={"Retry-After": "5"})
    return Response(twiml(answer["reply"]), media_type="application/xml")

