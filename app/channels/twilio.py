"""Twilio (SMS and WhatsApp): a signed form post in, TwiML out. Twilio waits about 15 s: a
turn not done within TWILIO_REPLY_WITHIN_SEC is answered with an empty TwiML, and its reply
sent through Twilio's Messages API when it is ready."""

from __future__ import annotations

from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from app.channel import Channel
from app.channels.signatures import verify_twilio
from app.channels.webhooks import still_processing, verified_body
from app.http.bodies import error_responses
from app.http.deps import RuntimeDep, enforce_rate, off_loop
from app.runtime import Runtime

router = APIRouter(tags=["channels"])


def signed_url(request: Request, public_base_url: str | None) -> str:
    """The URL Twilio signed: ours as the world sees it, when a proxy stands in front."""
    if not public_base_url:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public_base_url.rstrip("/") + request.url.path + query


def twiml(text: str | None) -> str:
    """The answer as TwiML; None: an empty one (nothing to send now)."""
    message = "" if text is None else f"<Message>{escape(text[:1600])}</Message>"
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'


def _answer(runtime: Runtime, request: Request, response: Response, form: dict) -> dict | None:
    sender = form["From"][:128]
    enforce_rate(request, response, runtime, [("session", f"{Channel.TWILIO}:{sender}")])
    # The late reply goes from the number the person wrote to.
    return runtime.deliveries.answer_within(
        Channel.TWILIO, form["MessageSid"][:191], sender, form["Body"][:10000],
        reply_to={"from": form.get("To", "")[:128]}, seconds=runtime.settings.twilio_reply_within_sec)


@router.post("/provider/twilio", response_class=Response, responses={
    200: {"description": "TwiML with the reply", "content": {"application/xml": {"schema": {"type": "string"}}}},
    **error_responses(400, 401, 413, 422, 429, 503)})
async def twilio_inbound(request: Request, response: Response, runtime: RuntimeDep):
    token = runtime.settings.twilio_auth_token
    if not token:
        raise HTTPException(503, "TWILIO_AUTH_TOKEN is not configured on this server")

    def verify(raw: bytes) -> list[tuple[str, str]]:
        params = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        verify_twilio(request.headers.get("x-twilio-signature"), token,
                      signed_url(request, runtime.settings.public_base_url), params)
        return params

    _, params = await verified_body(request, runtime, Channel.TWILIO, verify, "invalid Twilio signature")
    form = dict(params)
    missing = [name for name in ("MessageSid", "From", "Body") if not form.get(name)]
    if missing:
        raise RequestValidationError([{"loc": ("body", name), "type": "missing", "msg": "Field required"}
                                      for name in missing])
    answer = await off_loop(runtime, _answer, runtime, request, response, form)
    if answer is None:
        return still_processing()
    return Response(twiml(None if answer.get("late") else answer["reply"]), media_type="application/xml")

