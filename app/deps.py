"""Route dependencies: the runtime, and API keys compared in constant time."""

from __future__ import annotations

import asyncio
import contextvars
import hmac
from typing import Annotated, Callable, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.agent import Agent
from app.audit import record
from app.ratelimit import key_scope

T = TypeVar("T")


# Trivial dependencies are `async def`: FastAPI runs a plain `def` dependency on a worker
# thread, and each such hand-off cost a turn measurable time (BENCHMARKS.md).
async def get_agent(request: Request) -> Agent:
    return request.app.state.agent


AgentDep = Annotated[Agent, Depends(get_agent)]


async def off_loop(agent: Agent, func: Callable[..., T], *args) -> T:
    """Run blocking work (a turn, with its store calls) on the runtime's request threads,
    in this request's context (its request id). A plain executor hand-off: with Starlette's
    threadpool (AnyIO) instead, a read-only request cost the server about a quarter more CPU
    here (BENCHMARKS.md, "Thread hand-offs")."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(agent.request_threads, context.run, func, *args)


def key_passes(request: Request, expected: str | None, *, required: bool, header: str = "x-api-key") -> bool:
    """A matching key (compared in constant time), or no key configured and none required."""
    if expected is None:
        return not required
    return hmac.compare_digest(request.headers.get(header, "").encode(), expected.encode())


def check_key(request: Request, agent: Agent, expected: str | None, *, name: str,
              required: bool, header: str = "x-api-key") -> None:
    """503 when a required key is not configured, 401 (audited) when it does not match."""
    if key_passes(request, expected, required=required, header=header):
        return
    if expected is None:
        raise HTTPException(503, f"{name} is not configured on this server")
    record(agent.engine, "auth_failed", route=request.url.path,
           client=request.client.host if request.client else None, key_sent=bool(request.headers.get(header)))
    raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "API-Key"})


async def _agent_key(request: Request, agent: Agent, required: bool) -> None:
    expected = agent.settings.agent_api_key
    if key_passes(request, expected, required=required):
        return
    # Refused: the audit write blocks, so it goes to a worker thread like any store call.
    await run_in_threadpool(check_key, request, agent, expected, name="AGENT_API_KEY", required=required)


async def agent_key_optional(request: Request, agent: AgentDep) -> None:
    await _agent_key(request, agent, required=False)


async def agent_key_required(request: Request, agent: AgentDep) -> None:
    await _agent_key(request, agent, required=True)


def json_reply(body: BaseModel, response: Response) -> Response:
    """The body as JSON, with the headers set on `response` (the rate-limit ones). Returning
    a Response skips FastAPI's second validation of a model we built ourselves, and the
    worker-thread hand-off it takes for a plain `def` route."""
    return Response(body.model_dump_json(), media_type="application/json", headers=dict(response.headers))


def client_scopes(request: Request) -> list[tuple[str, str]]:
    scopes = [("ip", request.client.host if request.client else "unknown")]
    given = request.headers.get("x-api-key")
    if given:
        scopes.append(("key", key_scope(given)))
    return scopes


def enforce_rate(request: Request, response: Response, agent: Agent, scopes: list[tuple[str, str]]) -> None:
    """429 with Retry-After when any scope is over RATE_LIMIT_REQUESTS a minute; the
    X-RateLimit-* headers either way."""
    verdict = agent.limits.check(scopes)
    if verdict is None:
        return
    if not verdict.allowed:
        record(agent.engine, "rate_limited", route=request.url.path, scope=verdict.scope,
               client=request.client.host if request.client else None)
        raise HTTPException(429, f"rate limit exceeded: {verdict.limit} requests per minute "
                                 f"per {verdict.scope}", headers=verdict.headers())
    response.headers.update(verdict.headers())
