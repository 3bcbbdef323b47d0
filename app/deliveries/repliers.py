"""Out-of-band repliers: for channels whose webhook is acknowledged at once, the answer is
sent afterwards: WhatsApp Cloud API users through the Graph API, and Twilio users (when
the turn outlasts Twilio's wait) through Twilio's Messages API."""

from __future__ import annotations

import logging
from typing import Protocol
from urllib.parse import quote

import httpx
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from app.conversations.texts import Texts

log = logging.getLogger("llm_planner.deliveries")
MAX_TEXT = 4096  # WhatsApp's limit for a text body
MAX_INTERACTIVE = 1024  # ... and for an interactive message's body
MAX_TWILIO_BODY = 1600  # Twilio's limit for one message's body


class DeliveryError(Exception):
    pass


class _Retryable(Exception):
    pass


@retry(retry=retry_if_exception_type(_Retryable), stop=stop_after_attempt(4),
       wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
def _post(client: httpx.Client, url: str, **request) -> None:
    """One POST, tried again on 429, 5xx and transport errors; other 4xx raise at once."""
    try:
        response = client.post(url, **request)
    except httpx.TransportError as exc:
        raise _Retryable(type(exc).__name__) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retryable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")


class Replier(Protocol):
    def send(self, to: str, reply_to: dict | None, response: dict) -> int:
        """Send the answer; how many messages went out. Raises on failure."""


class WhatsAppCloudReplier:
    def __init__(self, settings, texts: Texts) -> None:
        self.base = settings.meta_graph_url.rstrip("/")
        self.token = settings.meta_access_token
        self.phone_number_id = settings.meta_phone_number_id
        self.texts = texts
        self.client = httpx.Client(timeout=10)

    def send(self, to: str, reply_to: dict | None, response: dict) -> int:
        """The reply as text, then one message with Confirm / Cancel buttons per parked call."""
        sender = self.phone_number_id or (reply_to or {}).get("phone_number_id")
        if not self.token or not sender:
            raise DeliveryError("META_ACCESS_TOKEN and a phone number id are needed to reply")
        payloads = [{"type": "text", "text": {"body": response["reply"][:MAX_TEXT], "preview_url": False}}]
        for c in response.get("confirmations", []):
            body = f"{c['tool_name']}: {c['preview']}"[:MAX_INTERACTIVE]
            payloads.append({"type": "interactive", "interactive": {
                "type": "button", "body": {"text": body},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": f"confirm {c['token']}", "title": self.texts("button_confirm")}},
                    {"type": "reply", "reply": {"id": f"cancel {c['token']}", "title": self.texts("button_cancel")}},
                ]}}})
        for payload in payloads:
            self._post(sender, {"messaging_product": "whatsapp", "recipient_type": "individual",
                                "to": to, **payload})
        return len(payloads)

    def _post(self, sender: str, payload: dict) -> None:
        _post(self.client, f"{self.base}/{sender}/messages", json=payload,
              headers={"Authorization": f"Bearer {self.token}"})


class TwilioReplier:
    """Twilio's webhook waits about 15 s for its answer: a turn that takes longer is
    answered with an empty TwiML, and its reply is sent here once it is ready."""

    def __init__(self, settings) -> None:
        self.sid, self.token = settings.twilio_account_sid, settings.twilio_auth_token
        self.url = (f"{settings.twilio_api_url.rstrip('/')}/2010-04-01/Accounts/{quote(self.sid or '', safe='')}/Messages.json")
        self.client = httpx.Client(timeout=10)
        if self.token and not self.sid:
            log.warning("TWILIO_ACCOUNT_SID is not set: a Twilio turn that takes longer than "
                        "TWILIO_REPLY_WITHIN_SEC (%gs) cannot be answered", settings.twilio_reply_within_sec)

    def send(self, to: str, reply_to: dict | None, response: dict) -> int:
        sender = (reply_to or {}).get("from")
        if not (self.sid and self.token):
            raise DeliveryError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to send a late reply")
        if not sender:
            raise DeliveryError("the number the message was sent to is unknown")
        _post(self.client, self.url, auth=(self.sid, self.token),
              data={"To": to, "From": sender, "Body": response["reply"][:MAX_TWILIO_BODY]})
        return 1
