"""The FastAPI app: `uvicorn app.main:app` or `llm-planner serve`."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from app import __version__, startup_checks
from app.audit import routes as audit_routes
from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.channels import (
    chat_page,
    gateway,
    standard_webhook,
    twilio,
    web,
    whatsapp_cloud,
)
from app.config import Settings
from app.http import errors, health
from app.http.middleware import BodySizeLimit, HttpMetrics, RequestIds
from app.llm import ChatModel
from app.observability.logs import configure as configure_logging
from app.observability.metrics import CONTENT_TYPE_LATEST, exposition
from app.runtime import Runtime
from app.store.migrate import ensure_current
from app.tasks import routes as task_routes
from app.tasks.task_tools import with_task_tools

log = logging.getLogger("llm_planner")


def create_app(settings: Settings | None = None, *, model: ChatModel | None = None,
               runtime: Runtime | None = None, serving: bool = False) -> FastAPI:
    """`serving`: this process exists to run this app (`serve`, `uvicorn app.main:app`)."""
    settings = settings or Settings()
    runtime = runtime or Runtime(settings, model=model)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # SQLite may migrate itself; any other database must be migrated by the operator.
        ensure_current(runtime.engine, settings.db_url, migrate_sqlite=settings.is_sqlite)
        # A policy may name the task-only tools too.
        startup_checks.report(settings, with_task_tools(runtime.registry).names())
        # Deliveries a killed process acknowledged but never answered are finished now.
        threading.Thread(target=runtime.deliveries.recover_unfinished, name="inbox-recovery",
                         daemon=True).start()
        runtime.agents.sync()  # agents: the table brought in line with AGENTS_FILE
        if settings.task_workers:
            runtime.task_worker.start()
        if serving:
            # What exists now lives as long as the process: the cyclic GC need not walk it
            # again. A full collection over it took 80 ms here, a pause any request could hit.
            gc.collect()
            gc.freeze()
        yield
        # A graceful stop answers what it acknowledged and lets running task steps finish;
        # anything left is recovered at the next start (or by another worker).
        await anyio.to_thread.run_sync(runtime.deliveries.drain, 20)
        if settings.task_workers:
            await anyio.to_thread.run_sync(runtime.task_worker.stop, settings.task_drain_sec)
        # MCP: the servers this process started end with it (their sessions closed cleanly)
        await anyio.to_thread.run_sync(runtime.mcp.connections.close)
        # agents: the services this node launched stop with it; its own resources go
        await anyio.to_thread.run_sync(runtime.agents.supervisor.stop_all)
        if settings.agent_resources_file:
            settings.agent_resources_file.unlink(missing_ok=True)

    app = FastAPI(title="llm-planner", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    for module in (health, web, chat_page, gateway, standard_webhook, whatsapp_cloud, twilio, audit_routes,
                   task_routes):
        app.include_router(module.router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    # the operator console
    from app.console.routes import install as install_console
    install_console(app)
    # MCP: POST /mcp, our catalogue to MCP clients
    from app.mcp import routes as mcp_routes
    app.include_router(mcp_routes.router)
    # agents: their routes; an agent's own service also answers `/`, `/status`, `/shutdown`
    from app.agents import routes as agent_routes
    app.include_router(agent_routes.api)
    app.include_router(agent_routes.chat)
    if settings.agent_name:
        app.include_router(agent_routes.service)
        app.router.routes.insert(0, app.router.routes.pop())  # its `/` before the chat page's
    errors.install(app, runtime)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list,
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type", "X-API-Key"])
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_size,
                       on_reject=lambda path, reason: record(
                           runtime.engine, AuditKind.REQUEST_REJECTED, route=path, reason=reason,
                           status=413 if reason == "body_too_large" else 400))
    app.add_middleware(HttpMetrics)
    app.add_middleware(RequestIds)  # outermost: even a 413 has an id
    return app


def _default_app() -> FastAPI:
    from app.cli.settings import load_settings  # one clear message for a bad setting

    settings = load_settings()
    configure_logging(settings)
    # Checked before the app exists: a failing lifespan would print a traceback, not the reason.
    problems = startup_checks.refusals(settings)
    if problems:
        for problem in problems:
            log.error(problem)
        sys.exit(1)
    return create_app(settings, serving=True)


def __getattr__(name: str):
    # `app` is built when a server asks for it, not whenever this module is imported.
    if name == "app":
        globals()["app"] = built = _default_app()
        return built
    raise AttributeError(name)
