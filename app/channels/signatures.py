"""Webhook signatures, checked on the raw bytes before anything is parsed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Mapping


class SignatureError(Exception):
    """`reason` is audited; the sender only ever sees 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_standard_webhook(headers: Mapping[str, str], body: bytes, keys: list[bytes],
                            max_skew: int, now: float | None = None) -> str:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, any of
    several space-separated signatures, any of several keys. Returns the webhook id."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not a number") from None
    skew = (now if now is not None else time.time()) - sent_at
    if skew > max_skew:
        raise SignatureError("timestamp too old (replay window passed)")
    if skew < -max_skew:
        raise SignatureError("timestamp too far in the future")
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()) for key in keys]
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and any(hmac.compare_digest(value.encode(), e) for e in expected):
            return msg_id
    raise SignatureError("no signature matches")


def verify_meta(header: str | None, body: bytes, app_secret: str) -> None:
    """X-Hub-Signature-256: `sha256=<hex HMAC-SHA256 of the raw body>` with the app secret."""
    if not header or not header.startswith("sha256="):
        raise SignatureError("missing X-Hub-Signature-256")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(header[7:].lower().encode(), expected.encode()):
        raise SignatureError("X-Hub-Signature-256 does not match")


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Base64 HMAC-SHA1 of the full URL followed by each POST parameter, sorted by name,
    as name+value with no separators."""
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def verify_twilio(header: str | None, auth_token: str, url: str, params: list[tuple[str, str]]) -> None:
    if not header:
        raise SignatureError("missing X-Twilio-Signature")
    if not hmac.compare_digest(header.encode(), twilio_signature(auth_token, url, params).encode()):
        raise SignatureError("X-Twilio-Signature does not match")
