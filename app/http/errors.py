"""How errors become answers: each refusal or failure carries `detail`, a sentence a person can
read (`error`) and the `request_id`; an invalid body is 422 and on record; nothing is a
traceback."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.http.bodies import error_payload
from app.observability.logs import request_id_var
from app.runtime import Runtime
from app.tasks.service import TaskError
from app.validation_errors import error_lines

log = logging.getLogger("llm_planner")

_PARSE_FAILED = "There was an error parsing the body"


class ServiceError(HTTPException):
    """An HTTPException that also says, for a person, what went wrong (`error`)."""

    def __init__(self, status_code: int, detail: str, error: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, detail, headers=dict(headers) if headers else None)
        self.error = error


def error_response(status: int, detail: Any, error: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_payload(detail, error), status_code=status, headers=headers)


def sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!")) else ".")


def readable(errors: list[dict]) -> str:
    """The validation problems in one line: "Invalid request: body.message: Field required."."""
    parts = []
    for error in errors[:5]:
        if error["type"] == "json_invalid" and error["msg"] == "JSON decode error":
            reason = (error.get("ctx") or {}).get("error")
            parts.append("the body is not valid JSON" + (f" ({reason})" if reason else ""))
        else:
            parts.extend(error_lines([error], root="body"))
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return sentence("Invalid request: " + "; ".join(parts))


def _unparsable(cause: BaseException | None) -> str:
    # FastAPI answers 400 for any body json.loads gives up on without a JSONDecodeError;
    # the cause says which, and each needs a different fix from the sender.
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not valid UTF-8"
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply to be read"
    return "the body is not valid JSON"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method the path answers: Starlette names only the first route that matched it."""
    return ", ".join(method for method in _METHODS
                     if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                            for route in request.app.router.routes))


def _http_error_text(request: Request, exc: StarletteHTTPException) -> str:
    if isinstance(exc, ServiceError):
        return exc.error
    if exc.status_code == 404:
        return "Not found: this service has no such route."
    if exc.status_code == 405:
        return f"Method {request.method} is not allowed here; use {_allowed_methods(request)}."
    if isinstance(exc.detail, str) and exc.detail:
        return sentence(exc.detail)
    return "The request was refused."


def install(app: FastAPI, runtime: Runtime) -> None:
    def reject(request: Request, errors: list[dict], text: str) -> JSONResponse:
        record(runtime.engine, AuditKind.REQUEST_REJECTED, route=request.url.path, status=422, errors=errors)
        return error_response(422, errors, text)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError):
        found = exc.errors()[:20]
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in found]
        # The sentence may use the parser's own reason (`ctx`), which `detail` leaves out.
        return reject(request, errors, readable([{**e, "ctx": f.get("ctx")} for e, f in zip(errors, found)]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # To the caller a body the JSON parser gave up on is an invalid body like any other:
        # 422, and on record.
        if exc.status_code == 400 and exc.detail == _PARSE_FAILED:
            errors = [{"loc": ["body"], "msg": _unparsable(exc.__cause__), "type": "json_invalid"}]
            return reject(request, errors, sentence(errors[0]["msg"]))
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        return error_response(exc.status_code, exc.detail, _http_error_text(request, exc), headers)

    @app.exception_handler(TaskError)
    async def task_refused(request: Request, exc: TaskError):
        # The task service's refusals (404, 409, 400) answer like any other, wherever they rise.
        return error_response(exc.status, exc.message, sentence(exc.message))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        request_id = request_id_var.get() or ""
        # Answered outside the request-id middleware, so the header is set here.
        return error_response(500, "internal error; it has been logged",
                              f"Something went wrong on our side. It has been logged under request "
                              f"{request_id}.", {"X-Request-ID": request_id})
