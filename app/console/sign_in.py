"""Signing in and out. A failed sign-in is an audit event naming the operator tried (never
the key); CONSOLE_MAX_FAILURES of them from one address within 15 minutes and sign-in
answers 429 with Retry-After, counted from the audit trail so every worker agrees."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.audit.chain import record
from app.audit.kinds import AuditKind
from app.console import repository
from app.console.auth import (
    FAILURE_WINDOW_SEC,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    key_matches,
    operators,
    same_token,
)
from app.console.web import (
    OperatorDep,
    check_csrf,
    configured,
    current_operator,
    forget_cookie,
    redirect,
    render,
    safe_next,
    set_cookie,
    signer,
)
from app.http.deps import client_address
from app.store.tables import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)
ROUTE = "/console/login"


def _form(request: Request, next_: str, status: int = 200, message: str | None = None, name: str = "",
          headers: dict[str, str] | None = None) -> HTMLResponse:
    cookie, token = signer(request).new_sign_in()
    response = render(request, "login.html", {"sign_in_token": token, "next": safe_next(next_),
                                              "message": message, "name": name}, status=status)
    response.headers.update(headers or {})
    set_cookie(response, request, SIGN_IN_COOKIE, cookie, 3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/console") -> Response:
    configured(request)
    if current_operator(request):
        return redirect(request, safe_next(next))
    return _form(request, next)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, operator: Annotated[str, Form(max_length=200)] = "",
          key: Annotated[str, Form(max_length=1000)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/console") -> Response:
    configured(request)
    runtime = request.app.state.runtime
    settings = runtime.settings
    if not same_token(signer(request).sign_in_token(request.cookies.get(SIGN_IN_COOKIE)), csrf):
        return _form(request, next, 403, "The sign-in form had expired or was not this site's. "
                     "Nothing was checked: please sign in again.", name=operator)
    client = client_address(request) or "unknown"
    failures = repository.recent_sign_in_failures(runtime.engine, client, FAILURE_WINDOW_SEC)
    if len(failures) >= settings.console_max_failures:
        retry = max(1, math.ceil(FAILURE_WINDOW_SEC - (utcnow() - failures[0]).total_seconds()))
        record(runtime.engine, AuditKind.RATE_LIMITED, channel=repository.CONSOLE_CHANNEL, route=ROUTE,
               scope="console_sign_in", client=client, operator=operator[:128])
        return _form(request, next, 429, f"Too many failed sign-ins from this address. Try again in "
                     f"{math.ceil(retry / 60)} minute(s).", name=operator, headers={"Retry-After": str(retry)})
    known = operators(settings)
    if not key_matches(known, operator, key):
        # A key typed into the Operator field is not written down either.
        tried = operator[:128] if operator in known or not _is_a_key(known, operator) else "(a key; not recorded)"
        record(runtime.engine, AuditKind.AUTH_FAILED, channel=repository.CONSOLE_CHANNEL, route=ROUTE,
               client=client, operator=tried, key_sent=bool(key),
               reason="wrong_key" if operator in known else "unknown_operator")
        return _form(request, next, 401, "That operator name and key do not match.", name=operator)
    response = redirect(request, safe_next(next))
    set_cookie(response, request, SESSION_COOKIE, signer(request).new_session(operator, known[operator]),
               settings.console_session_sec)
    forget_cookie(response, request, SIGN_IN_COOKIE)
    return response


def _is_a_key(known: dict[str, str], text: str) -> bool:
    return any(same_token(key, text) for key in known.values())


@router.post("/logout")
def logout(request: Request, operator: OperatorDep, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_csrf(operator, csrf)
    # On record, and so for every worker: this sign-in's cookie, wherever a copy of it is,
    # is refused from now on (the browser's own copy is also deleted).
    record(request.app.state.runtime.engine, AuditKind.CONSOLE_SIGNED_OUT, channel=repository.CONSOLE_CHANNEL,
           session_id=operator.session, operator=operator.name)
    response = redirect(request, "/console/login")
    forget_cookie(response, request, SESSION_COOKIE)
    return response
