"""What the three signed webhooks share: the raw body checked before it is parsed (a bad
signature is audited and answered 401), and the rate-limited, deduplicated answer."""

from __future__ import annotations

from typing import Callable, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.channel import Channel
from app.channels.signatures import SignatureError
from app.http.deps import enforce_rate
from app.http.errors import error_response
from app.runtime import Runtime

T = TypeVar("T")


async def verified_body(request: Request, runtime: Runtime, channel: Channel,
                        verify: Callable[[bytes], T], refusal: str, **audited) -> tuple[bytes, T]:
    """(the raw body, what `verify(raw)` returned); `verify` raises SignatureError."""
    raw = await request.body()
    try:
        return raw, verify(raw)
    except SignatureError as exc:
        await run_in_threadpool(record, runtime.engine, AuditKind.SIGNATURE_REJECTED, channel=channel,
                                route=request.url.path, reason=exc.reason, **audited)
        raise HTTPException(401, refusal) from None


def limited_answer(runtime: Runtime, request: Request, response: Response, channel: Channel,
                   message_id: str, sender: str, text: str) -> dict | None:
    """The sender's rate limit, then the deduplicated answer: run together, on one thread
    hand-off. None when the first delivery is still being processed."""
    enforce_rate(request, response, runtime, [("session", f"{channel}:{sender}")])
    return runtime.deliveries.answer_now(channel, message_id, sender, text)


def still_processing() -> JSONResponse:
    return error_response(503, "the first delivery of this message is still being processed; retry later",
                          "This message is still being processed; send it again in a few seconds.",
                          {"Retry-After": "5"})
