"""The generic signed webhook (n8n, YCloud, any sender that can sign Standard Webhooks)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.channel import Channel
from app.channels.signatures import verify_standard_webhook
from app.channels.webhooks import limited_answer, still_processing, verified_body
from app.http.bodies import error_responses
from app.http.deps import RuntimeDep, off_loop

router = APIRouter(tags=["channels"])


class InboundMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)  # senders add their own fields
    message_id: str | None = Field(None, min_length=1, max_length=191)
    sender: str = Field(..., alias="from", min_length=1, max_length=128)
    text: str = Field(..., min_length=1, max_length=10000)


@router.post("/provider/inbound", responses=error_responses(400, 401, 413, 422, 429, 503))
async def provider_inbound(request: Request, response: Response, runtime: RuntimeDep):
    settings = runtime.settings
    webhook_id = request.headers.get("webhook-id")
    if settings.provider_verify_signature:
        keys = settings.provider_secrets
        if not keys:
            raise HTTPException(503, "PROVIDER_HMAC_SECRET is not configured on this server")
        raw, webhook_id = await verified_body(
            request, runtime, Channel.STANDARD_WEBHOOK,
            lambda body: verify_standard_webhook(request.headers, body, keys, settings.provider_max_skew_sec),
            "invalid webhook signature", webhook_id=webhook_id)
    else:
        raw = await request.body()
    try:
        body = InboundMessage.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    message_id = body.message_id or webhook_id
    if not message_id:
        raise RequestValidationError([{"loc": ("body", "message_id"), "type": "missing",
                                       "msg": "message_id (or a webhook-id header) is required"}])
    answer = await off_loop(runtime, limited_answer, runtime, request, response, Channel.STANDARD_WEBHOOK,
                            message_id, body.sender, body.text)
    return still_processing() if answer is None else answer
