"""How errors become answers: an invalid body is 422 and on record; nothing is a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.runtime import Runtime

log = logging.getLogger("llm_planner")


def install(app: FastAPI, runtime: Runtime) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                  for e in exc.errors()[:20]]
        record(runtime.engine, AuditKind.REQUEST_REJECTED, route=request.url.path, status=422, errors=errors)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # FastAPI answers 400 when the JSON parser itself gives up (absurd nesting): to the
        # caller that is an invalid body like any other, so 422, and on record.
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            errors = [{"loc": ["body"], "msg": "the body could not be parsed (too deeply nested?)",
                       "type": "json_invalid"}]
            record(runtime.engine, AuditKind.REQUEST_REJECTED, route=request.url.path, status=422,
                   errors=errors)
            return JSONResponse({"detail": errors}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
