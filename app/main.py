"""The FastAPI app: `uvicorn app.main:app` or `llm-planner serve`."""

from __future__ import annotations

import gc
import logging
import threading

import anyio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from app import __version__
from app.agent import Agent
from app.audit import record
from app.channels import health, meta, operator, provider, twilio, wa, web
from app.config import Settings
from app.limits import BodySizeLimit
from app.logs import RequestIds
from app.logs import configure as configure_logging
from app.metrics import CONTENT_TYPE_LATEST, HttpMetrics, exposition
from app.llm import ChatModel
from app.store.migrate import ensure_current

log = logging.getLogger("llm_planner")


def create_app(settings: Settings | None = None, *, model: ChatModel | None = None,
               agent: Agent | None = None, serving: bool = False) -> FastAPI:
    """`serving`: this process exists to run this app (`serve`, `uvicorn app.main:app`)."""
    settings = settings or Settings()
    agent = agent or Agent(settings, model=model)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # SQLite may migrate itself; any other database must be migrated by the operator.
        ensure_current(agent.engine, settings.db_url, migrate_sqlite=settings.is_sqlite)
        if not settings.provider_verify_signature:
            log.warning("PROVIDER_VERIFY_SIGNATURE=0: webhook signatures are NOT checked")
        # Deliveries a killed process acknowledged but never answered are finished now.
        threading.Thread(target=agent.recover_unfinished, name="inbox-recovery", daemon=True).start()
        if serving:
            # What exists now lives as long as the process: the cyclic GC need not walk it
            # again. A full collection over it took 80 ms here, a pause any request could hit.
            gc.collect()
            gc.freeze()
        yield
        # A graceful stop answers what it acknowledged; anything left is recovered at the next start.
        await anyio.to_thread.run_sync(agent.drain, 20)

    app = FastAPI(title="llm-planner", version=__version__, lifespan=lifespan)
    app.state.agent = agent
    app.include_router(health.router)
    for module in (web, wa, provider, meta, twilio, operator):
        app.include_router(module.router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                  for e in exc.errors()[:20]]
        record(agent.engine, "request_rejected", route=request.url.path, status=422, errors=errors)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI answers 400 when the JSON parser itself gives up (absurd nesting): to the
        # caller that is an invalid body like any other, so 422, and on record.
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            errors = [{"loc": ["body"], "msg": "the body could not be parsed (too deeply nested?)",
                       "type": "json_invalid"}]
            record(agent.engine, "request_rejected", route=request.url.path, status=422, errors=errors)
            return JSONResponse({"detail": errors}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list,
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type", "X-API-Key"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_size,
                       on_reject=lambda path, reason: record(
                           agent.engine, "request_rejected", route=path, reason=reason,
                           status=413 if reason == "body_too_large" else 400))
    app.add_middleware(HttpMetrics)
    app.add_middleware(RequestIds)  # outermost: even a 413 has an id
    return app


def _default_app() -> FastAPI:
    settings = Settings()
    configure_logging(settings)
    return create_app(settings, serving=True)


def __getattr__(name: str):
    # `app` is built when a server asks for it, not whenever this module is imported.
    if name == "app":
        globals()["app"] = built = _default_app()
        return built
    raise AttributeError(name)
