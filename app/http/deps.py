"""Typed route dependencies: the runtime, API keys compared in constant time, rate limits."""

from __future__ import annotations

import asyncio
import contextvars
import hmac
from typing import Annotated, Callable, TypeVar

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.http.errors import ServiceError
from app.rate_limits import LimitStoreDown, key_scope
from app.runtime import Runtime

T = TypeVar("T")


# Trivial dependencies are `async def`: FastAPI runs a plain `def` dependency on a worker
# thread, and each such hand-off cost a turn measurable time (BENCHMARKS.md).
async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def off_loop(runtime: Runtime, func: Callable[..., T], *args) -> T:
    """Run blocking work (a turn, with its store calls) on the runtime's request threads,
    in this request's context (its request id). A plain executor hand-off: with Starlette's
    threadpool (AnyIO) instead, a read-only request cost the server about a quarter more CPU
    here (BENCHMARKS.md, "Thread hand-offs")."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(runtime.request_threads, context.run, func, *args)


def key_passes(request: Request, expected: str | None, *, required: bool, header: str = "x-api-key") -> bool:
    """A matching key (compared in constant time), or no key configured and none required."""
    if expected is None:
        return not required
    return hmac.compare_digest(request.headers.get(header, "").encode(), expected.encode())


def check_key(request: Request, runtime: Runtime, expected: str | None, *, name: str,
              required: bool, header: str = "x-api-key") -> None:
    """503 when a required key is not configured, 401 (audited) when it does not match."""
    if key_passes(request, expected, required=required, header=header):
        return
    if expected is None:
        raise ServiceError(503, f"{name} is not configured on this server",
                           f"This route is switched off: the operator has not set {name}.")
    refuse_key(request, runtime, header)


def refuse_key(request: Request, runtime: Runtime, header: str = "x-api-key") -> None:
    """401, audited: a key is configured and the request's does not match it."""
    record(runtime.engine, AuditKind.AUTH_FAILED, route=request.url.path, client=client_address(request),
           key_sent=bool(request.headers.get(header)))
    raise ServiceError(401, "missing or invalid API key",
                       f"The API key is missing or wrong: send the right one in the {header} header.",
                       headers={"WWW-Authenticate": "API-Key"})


def agent_key_name(request: Request, runtime: Runtime) -> tuple[bool, str | None]:
    """(the key sent is AGENT_API_KEY or one of API_KEYS, the API_KEYS name it matched). Every
    key is compared, so the time taken does not tell which one nearly matched."""
    given = request.headers.get("x-api-key", "").encode()
    matched, name = False, None
    expected = runtime.settings.agent_api_key
    if expected is not None and hmac.compare_digest(given, expected.encode()):
        matched = True
    for key_name, key in runtime.settings.named_api_keys.items():
        if hmac.compare_digest(given, key.encode()) and name is None:
            matched, name = True, key_name
    return matched, name


async def _agent_key(request: Request, runtime: Runtime, required: bool) -> None:
    """AGENT_API_KEY or a named key (API_KEYS): the name reaches the turn through
    `request.state.api_key_name`, for the policy's [keys.NAME] rules."""
    request.state.api_key_name = None
    settings = runtime.settings
    if settings.agent_api_key is None and not settings.named_api_keys:
        if not required:
            return
        await run_in_threadpool(check_key, request, runtime, None, name="AGENT_API_KEY", required=True)
    matched, name = agent_key_name(request, runtime)
    if matched:
        request.state.api_key_name = name
        return
    # Refused: the audit write blocks, so it goes to a worker thread like any store call.
    await run_in_threadpool(refuse_key, request, runtime)


def api_key_name(request: Request) -> str | None:
    """The API_KEYS name this request authenticated with, if any."""
    return getattr(request.state, "api_key_name", None)


async def agent_key_optional(request: Request, runtime: RuntimeDep) -> None:
    await _agent_key(request, runtime, required=False)


async def agent_key_required(request: Request, runtime: RuntimeDep) -> None:
    await _agent_key(request, runtime, required=True)


def admin_key(request: Request, runtime: RuntimeDep) -> None:
    check_key(request, runtime, runtime.settings.admin_api_key, name="ADMIN_API_KEY", required=True)


def json_reply(body: BaseModel, response: Response) -> Response:
    """The body as JSON, with the headers set on `response` (the rate-limit ones). Returning
    a Response skips FastAPI's second validation of a model we built ourselves, and the
    worker-thread hand-off it takes for a plain `def` route."""
    return Response(body.model_dump_json(), media_type="application/json", headers=dict(response.headers))


def client_scopes(request: Request) -> list[tuple[str, str]]:
    scopes = [("ip", client_address(request) or "unknown")]
    given = request.headers.get("x-api-key")
    if given:
        scopes.append(("key", key_scope(given)))
    return scopes


def enforce_rate(request: Request, response: Response, runtime: Runtime, scopes: list[tuple[str, str]]) -> None:
    """429 with Retry-After when any scope is over RATE_LIMIT_REQUESTS a minute; the
    X-RateLimit-* headers either way."""
    try:
        verdict = runtime.limits.check(scopes)
    except LimitStoreDown as exc:  # fails closed; the outage is audited once, by its first request
        if exc.first:
            record(runtime.engine, AuditKind.RATE_LIMITED, route=request.url.path, scope="store",
                   reason="rate_limit_store_down", client=client_address(request))
        raise ServiceError(503, str(exc), "Requests are refused for now: the rate-limit store does not "
                           "answer. Try again shortly.", headers={"Retry-After": str(exc.retry_after)}) from None
    if verdict is None:
        return
    if not verdict.allowed:
        record(runtime.engine, AuditKind.RATE_LIMITED, route=request.url.path, scope=verdict.scope,
               client=client_address(request))
        raise ServiceError(429, f"rate limit exceeded: {verdict.limit} requests per minute per {verdict.scope}",
                           f"Rate limit exceeded: {verdict.limit} per 1 minute", headers=verdict.headers())
    response.headers.update(verdict.headers())
