"""Request rate limits (per client IP, per API key, per session) and per-session hourly
budgets of tool calls and model tokens, with the `limits` library: in memory by default,
in Redis when RATE_LIMIT_STORAGE_URL is set, so several workers share one count.

A store that does not answer fails closed for requests: each limited request is refused
(LimitStoreDown, a 503) until it answers again, and the outage is logged once, not once a
request. The hourly budgets are counted in the same store; a turn only runs after its
request was counted, so while the store is down they let the turn through."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("llm_planner.ratelimit")


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds
    scope: str = ""

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))

    def headers(self) -> dict[str, str]:
        values = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                  "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after)
        return values


class LimitStoreDown(RuntimeError):
    """The rate-limit store does not answer; `first` is true for the request that found out."""

    retry_after = 5

    def __init__(self, url: str, first: bool) -> None:
        super().__init__(f"the rate-limit store ({url}) does not answer; requests are refused "
                         f"until it does")
        self.first = first


def key_scope(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]  # never the key itself


class RateLimits:
    def __init__(self, settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.namespace = settings.rate_limit_namespace
        self.storage = storage_from_string(settings.rate_limit_storage_url or "memory://")
        self.store_url = re.sub(r"//[^@/]*@", "//***@", settings.rate_limit_storage_url or "memory://")
        self._down = False
        self._down_lock = threading.Lock()
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.per_minute = RateLimitItemPerMinute(settings.rate_limit_requests)
        self.tool_budget = settings.session_tool_calls_per_hour
        self.token_budget = settings.session_tokens_per_hour
        self.tools_per_hour = RateLimitItemPerHour(max(1, self.tool_budget))
        self.tokens_per_hour = RateLimitItemPerHour(max(1, self.token_budget))

    def _store_failed(self, exc: Exception) -> bool:
        """Mark an outage; true only for the first failure of it, which alone is logged."""
        with self._down_lock:
            first, self._down = not self._down, True
        if first:
            log.warning("rate limit store %s does not answer (%s): limited requests answer 503 until it does",
                        self.store_url, str(exc)[:200] or type(exc).__name__)
        return first

    def _store_answered(self) -> None:
        if self._down:
            with self._down_lock:
                ended, self._down = self._down, False
            if ended:
                log.warning("rate limit store %s answers again", self.store_url)

    def _ids(self, scope: str, value: str) -> tuple[str, str, str]:
        return self.namespace, scope, value

    def check(self, scopes: list[tuple[str, str]]) -> Verdict | None:
        """Count one request against each scope; the first refusal, or the tightest allowance."""
        if not self.enabled or not scopes:
            return None
        tightest = None
        try:
            for scope, value in scopes:
                ids = self._ids(scope, value)
                allowed = self.limiter.hit(self.per_minute, *ids)
                stats = self.limiter.get_window_stats(self.per_minute, *ids)
                verdict = Verdict(allowed, self.per_minute.amount, stats.remaining, int(stats.reset_time), scope)
                if not allowed:
                    return verdict
                if tightest is None or verdict.remaining < tightest.remaining:
                    tightest = verdict
        except Exception as exc:  # a limit that cannot be counted refuses, rather than lets all through
            raise LimitStoreDown(self.store_url, self._store_failed(exc)) from None
        self._store_answered()
        return tightest

    def _fail_open(self, action, default=True):
        """A budget that cannot be counted lets the turn through; the outage is logged once."""
        try:
            result = action()
        except Exception as exc:
            self._store_failed(exc)
            return default
        self._store_answered()
        return result

    def take_tool_call(self, session: str) -> bool:
        if self.tool_budget <= 0:
            return True
        return self._fail_open(lambda: self.limiter.hit(self.tools_per_hour, *self._ids("tools", session)))

    def tokens_left(self, session: str) -> bool:
        if self.token_budget <= 0:
            return True
        return self._fail_open(lambda: self.limiter.test(self.tokens_per_hour, *self._ids("tokens", session)))

    def spend_tokens(self, session: str, tokens: int) -> None:
        if self.token_budget <= 0 or tokens <= 0:
            return
        ids = self._ids("tokens", session)

        def spend() -> None:
            remaining = self.limiter.get_window_stats(self.tokens_per_hour, *ids).remaining
            # What is spent is spent: record it even when it passes what was left.
            if remaining > 0:
                self.limiter.hit(self.tokens_per_hour, *ids, cost=min(tokens, remaining))
        self._fail_open(spend, None)
