"""One model call = its attempts: retried with backoff on connection errors, 429 and 5xx,
never past LLM_TIMEOUT_SEC in all."""

from __future__ import annotations

import time
from typing import Callable

from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from app.llm.base import ModelReply, ModelUnavailable


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ModelUnavailable) and exc.retryable


def call_with_retries(attempt: Callable[[float], ModelReply], deadline_sec: float,
                      max_attempts: int) -> ModelReply:
    """`attempt(timeout)` makes one request with what is left of the deadline."""
    started = time.monotonic()
    retrying = Retrying(retry=retry_if_exception(_retryable),
                        stop=stop_after_attempt(max_attempts) | stop_after_delay(deadline_sec),
                        wait=wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.2), reraise=True)
    for state in retrying:
        with state:
            remaining = max(0.5, deadline_sec - (time.monotonic() - started))
            reply = attempt(remaining)
    reply.retries = state.retry_state.attempt_number - 1
    reply.latency_ms = int((time.monotonic() - started) * 1000)
    return reply
