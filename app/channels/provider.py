"""The generic signed webhook (n8n, YCloud, any sender that can sign Standard Webhooks)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.audit import record
from app.channels.inbound import limited_delivery, still_processing
from app.channels.signatures import SignatureError, verify_standard_webhook
from app.deps import AgentDep, off_loop

router = APIRouter(tags=["channels"])


class InboundMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)  # senders add their own fields
    message_id: str | None = Field(None, min_length=1, max_length=191)
    sender: str = Field(..., alias="from", min_length=1, max_length=128)
    text: str = Field(..., min_length=1, max_length=10000)


@router.post("/provider/inbound")
async def provider_inbound(request: Request, response: Response, agent: AgentDep):
    settings = agent.settings
    raw = await request.body()
    webhook_id = request.headers.get("webhook-id")
    if settings.provider_verify_signature:
        keys = settings.provider_secrets
        if not keys:
            raise HTTPException(503, "PROVIDER_HMAC_SECRET is not configured on this server")
        try:
            webhook_id = verify_standard_webhook(request.headers, raw, keys, settings.provider_max_skew_sec)
        except SignatureError as exc:
            await run_in_threadpool(record, agent.engine, "signature_rejected", channel="provider",
                                    route=request.url.path, reason=exc.reason, webhook_id=webhook_id)
            raise HTTPException(401, "invalid webhook signature") from None
    try:
        body = InboundMessage.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    message_id = body.message_id or webhook_id
    if not message_id:
        raise RequestValidationError([{"loc": ("body", "message_id"), "type": "missing",
                                       "msg": "message_id (or a webhook-id header) is required"}])
    answer = await off_loop(agent, limited_delivery, agent, request, response, "provider", message_id,
                            body.sender, body.text)
    if answer is None:
        return JSONResponse(still_processing(), status_code=503, headers={"Retry-After": "5"})
    return answer

