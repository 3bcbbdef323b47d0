"""Liveness and readiness."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import __version__
from app.http.bodies import Readiness, error_responses
from app.http.deps import RuntimeDep
from app.llm.base import ModelNotConfigured, ModelUnavailable

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses())
def health() -> dict:
    return {"status": "healthy", "version": __version__,
            "timestamp": datetime.now(timezone.utc).isoformat()}


@router.get("/health/ready", responses={
    200: {"model": Readiness},
    503: {"model": Readiness, "description": "The database or the model is down"},
    **error_responses()})
def ready(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, dict] = {}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    model = {"provider": runtime.model.provider, "url": runtime.model.url}
    try:
        runtime.model.ping()
        checks["model"] = {"ok": True, **model}
    except ModelNotConfigured as exc:
        checks["model"] = {"ok": False, **model, "error": f"not configured: set {exc.setting}"}
    except ModelUnavailable as exc:
        checks["model"] = {"ok": False, **model, "error": exc.reason}
    ok = all(check["ok"] for check in checks.values())
    # A bad POLICY_FILE is said here, but the node stays ready: the last good rules are in force.
    policy = runtime.policy.status()
    if policy.file or not policy.ok:
        checks["policy"] = {"ok": policy.ok, "file": policy.file,
                            **({"error": policy.error} if policy.error else {})}
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks},
                        status_code=200 if ok else 503)
