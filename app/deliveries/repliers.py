"""Out-of-band repliers: for channels whose webhook is acknowledged at once, the answer is
sent afterwards. Today one: WhatsApp Cloud API users, through the Graph API."""

from __future__ import annotations

import logging
from typing import Protocol

import httpx
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from app.conversations.texts import Texts

log = logging.getLogger("llm_planner.meta")
MAX_TEXT = 4096  # WhatsApp's limit for a text body
MAX_INTERACTIVE = 1024  # ... and for an interactive message's body


class DeliveryError(Exception):
    pass


class _Retryable(Exception):
    pass


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

    @retry(retry=retry_if_exception_type(_Retryable), stop=stop_after_attempt(4),
           wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
    def _post(self, sender: str, payload: dict) -> None:
        try:
            response = self.client.post(f"{self.base}/{sender}/messages", json=payload,
                                        headers={"Authorization": f"Bearer {self.token}"})
        except httpx.TransportError as exc:
            raise _Retryable(type(exc).__name__) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")
