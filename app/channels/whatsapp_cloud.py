"""The WhatsApp Cloud API webhook: the verification handshake, and signed message
deliveries acknowledged at once (Meta retries slow answers) and processed afterwards."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.channel import Channel
from app.channels.signatures import verify_meta
from app.channels.webhooks import verified_body
from app.http.bodies import error_responses
from app.http.deps import RuntimeDep, off_loop
from app.runtime import Runtime

router = APIRouter(tags=["channels"])


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Reply(_Loose):
    id: str | None = None
    payload: str | None = None
    text: str | None = None
    body: str | None = None


class Interactive(_Loose):
    type: str | None = None
    button_reply: Reply | None = None
    list_reply: Reply | None = None


class MetaMessage(_Loose):
    id: str = Field(..., min_length=1, max_length=191)
    sender: str = Field(..., alias="from", min_length=1, max_length=128)
    type: str
    text: Reply | None = None
    interactive: Interactive | None = None
    button: Reply | None = None

    def content(self) -> str | None:
        """What the person wrote, or the id of the quick-reply button they tapped."""
        if self.type == "text" and self.text and self.text.body:
            return self.text.body
        if self.type == "interactive" and self.interactive:
            chosen = self.interactive.button_reply or self.interactive.list_reply
            return chosen.id if chosen else None
        if self.type == "button" and self.button:
            return self.button.payload or self.button.text
        return None


class Value(_Loose):
    metadata: dict = {}
    messages: list[MetaMessage] = []


class Change(_Loose):
    value: Value = Value()


class Entry(_Loose):
    changes: list[Change] = []


class MetaWebhook(_Loose):
    entry: list[Entry] = []


def _configured(runtime: Runtime) -> None:
    if not (runtime.settings.meta_app_secret and runtime.settings.meta_verify_token):
        raise HTTPException(503, "META_APP_SECRET and META_VERIFY_TOKEN are not configured on this server")


@router.get("/provider/meta", response_class=PlainTextResponse,
            responses=error_responses(403, 503, as_json_ref=True))
def meta_verify(request: Request, runtime: RuntimeDep) -> str:
    _configured(runtime)
    query = request.query_params
    token = query.get("hub.verify_token", "")
    if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode(), runtime.settings.meta_verify_token.encode()):
        return query.get("hub.challenge", "")
    record(runtime.engine, AuditKind.SIGNATURE_REJECTED, channel=Channel.WHATSAPP_CLOUD, route=request.url.path,
           reason="verification handshake with a wrong hub.verify_token or hub.mode")
    raise HTTPException(403, "verification failed")


@router.post("/provider/meta", responses=error_responses(400, 401, 413, 422, 503))
async def meta_inbound(request: Request, runtime: RuntimeDep) -> dict:
    _configured(runtime)
    raw, _ = await verified_body(
        request, runtime, Channel.WHATSAPP_CLOUD,
        lambda body: verify_meta(request.headers.get("x-hub-signature-256"), body,
                                 runtime.settings.meta_app_secret),
        "invalid signature")
    try:
        payload = MetaWebhook.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    return await off_loop(runtime, _accept_all, runtime, payload)


def _accept_all(runtime: Runtime, payload: MetaWebhook) -> dict:
    accepted = duplicates = ignored = 0
    for entry in payload.entry:
        for change in entry.changes:
            phone_number_id = change.value.metadata.get("phone_number_id")
            for message in change.value.messages:
                text = message.content()
                if not text:
                    ignored += 1
                    continue
                # Stored before the 200 goes out: a crash after it is recovered at start.
                inbox = runtime.deliveries.inbox
                delivery, first = inbox.accept(Channel.WHATSAPP_CLOUD, message.id, message.sender, text[:10000],
                                               reply_to={"phone_number_id": phone_number_id})
                if first:
                    accepted += 1
                    runtime.deliveries.answer_later(delivery)
                else:
                    duplicates += 1
    return {"status": "accepted", "accepted": accepted, "duplicates": duplicates, "ignored": ignored}
