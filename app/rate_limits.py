"""Request rate limits (per client IP, per API key, per session) and per-session hourly
budgets of tool calls and model tokens, with the `limits` library: in memory by default,
in Redis when RATE_LIMIT_STORAGE_URL is set, so several workers share one count."""

from __future__ import annotations

import hashlib
import logging
import math
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


def key_scope(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]  # never the key itself


class RateLimits:
    def __init__(self, settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.namespace = settings.rate_limit_namespace
        self.storage = storage_from_string(settings.rate_limit_storage_url or "memory://")
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.per_minute = RateLimitItemPerMinute(settings.rate_limit_requests)
        self.tool_budget = settings.session_tool_calls_per_hour
        self.token_budget = settings.session_tokens_per_hour
        self.tools_per_hour = RateLimitItemPerHour(max(1, self.tool_budget))
        self.tokens_per_hour = RateLimitItemPerHour(max(1, self.token_budget))

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
        except Exception:  # a limiter that cannot count must not take the service down
            log.exception("rate limit storage failed; the request is let through")
            return None
        return tightest

    @staticmethod
    def _fail_open(action, default=True):
        """A budget that cannot be counted lets the turn through, and says so in the log."""
        try:
            return action()
        except Exception:
            log.exception("budget storage failed")
            return default

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
