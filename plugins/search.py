"""web_search: DuckDuckGo (through the `ddgs` library) or a SearXNG at SEARCH_URL; answers
cached for SEARCH_CACHE_SEC, and the searches this service asks for rate limited."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict

import httpx
from pydantic import Field

from app.tools import ToolArgs, ToolContext, ToolError, tool

USER_AGENT = "llm-planner (web_search)"

SEARCHES_PER_MINUTE = 20  # asked of the search service by this service, all sessions together
CACHE_ENTRIES = 512


class WebSearchArgs(ToolArgs):
    query: str = Field(..., min_length=1, max_length=400, description="What to search for")
    max_results: int = Field(5, ge=1, le=20, description="How many results (1-20)")


class _Cache:
    """Answers kept for SEARCH_CACHE_SEC in this process: a repeated search is free."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, tuple[float, list]] = OrderedDict()

    def get(self, key: tuple) -> list | None:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return found[1]

    def put(self, key: tuple, results: list, seconds: int) -> None:
        if seconds <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, results)
            self._items.move_to_end(key)
            while len(self._items) > CACHE_ENTRIES:
                self._items.popitem(last=False)


class _Pace:
    """SEARCHES_PER_MINUTE against the search service, counted in the service's rate-limit
    store (RATE_LIMIT_STORAGE_URL: shared by every process using it; memory otherwise)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[str, object] = {}

    def take(self, ctx: ToolContext) -> bool:
        from limits import RateLimitItemPerMinute
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        url = ctx.settings.rate_limit_storage_url or "memory://"
        with self._lock:
            limiter = self._limiters.get(url)
            if limiter is None:
                limiter = self._limiters[url] = MovingWindowRateLimiter(storage_from_string(url))
        try:
            return limiter.hit(RateLimitItemPerMinute(SEARCHES_PER_MINUTE), ctx.settings.rate_limit_namespace,
                               "web_search")
        except Exception:
            raise ToolError("the rate-limit store does not answer; no search was made") from None


CACHE = _Cache()
PACE = _Pace()


def _searxng(base: str, query: str, wanted: int, timeout: float) -> list[dict]:
    url = f"{base}/search"
    try:
        response = httpx.get(url, params={"format": "json", "q": query}, timeout=timeout,
                             headers={"Accept": "application/json", "User-Agent": USER_AGENT})
    except httpx.TimeoutException:
        raise ToolError(f"the search service ({base}) did not answer in time") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"the search service ({base}) could not be reached ({type(exc).__name__})") from None
    if response.status_code == 403:
        raise ToolError(f"the search service ({base}) refused the JSON format: enable `json` in SearXNG's "
                        f"search.formats")
    if response.status_code != 200:
        raise ToolError(f"the search service ({base}) answered HTTP {response.status_code}")
    try:
        found = response.json().get("results") or []
    except (ValueError, AttributeError):
        raise ToolError(f"the search service ({base}) did not answer with JSON results") from None
    return [{"title": str(item.get("title") or ""), "url": str(item.get("url") or ""),
             "snippet": str(item.get("content") or "")}
            for item in found if isinstance(item, dict) and item.get("url")][:wanted]


def _duckduckgo(query: str, wanted: int, timeout: float) -> list[dict]:
    from ddgs import DDGS
    from ddgs.exceptions import DDGSException

    try:
        found = DDGS(timeout=max(1, int(timeout))).text(query, max_results=wanted, backend="duckduckgo")
    except DDGSException as exc:
        if "no results" in str(exc).lower():
            return []
        raise ToolError(f"DuckDuckGo could not be searched ({type(exc).__name__})") from None
    return [{"title": str(item.get("title") or ""), "url": str(item.get("href") or ""),
             "snippet": str(item.get("body") or "")} for item in found if item.get("href")][:wanted]


def _fewer(out: dict, limit: int) -> dict:
    """The results that fit MAX_OUTPUT_SIZE as JSON, the last ones left out first."""
    results = list(out["results"])
    while results and len(json.dumps({**out, "results": results}, ensure_ascii=False)) > limit:
        results.pop()
    return out if len(results) == len(out["results"]) else {**out, "results": results, "truncated": True}


def _search_words(out: dict) -> str:
    lines = [f"{n}. {r['title']} — {r['url']}" for n, r in enumerate(out["results"], 1)]
    return "\n".join(lines) or f"nothing found for {out['query']!r}"


@tool(permissions=["network"], tag="read", render=_search_words)
def web_search(args: WebSearchArgs, ctx: ToolContext) -> dict:
    """Search the web; the titles, addresses and snippets of the results."""
    base = ctx.settings.search_url
    source = "searxng" if base else "duckduckgo"
    query = " ".join(args.query.split())
    key = (base or source, query, args.max_results)
    cached = CACHE.get(key)
    if cached is not None:
        return _fewer({"query": query, "source": source, "results": cached, "cached": True}, ctx.max_output_size)
    if not PACE.take(ctx):
        raise ToolError(f"too many web searches (more than {SEARCHES_PER_MINUTE} a minute); try again shortly")
    timeout = max(1.0, min(15.0, ctx.timeout - 1))
    results = _searxng(base, query, args.max_results, timeout) if base else \
        _duckduckgo(query, args.max_results, timeout)
    CACHE.put(key, results, ctx.settings.search_cache_sec)
    return _fewer({"query": query, "source": source, "results": results, "cached": False}, ctx.max_output_size)
