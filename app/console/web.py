"""The console's HTTP plumbing: templates (autoescaped: stored text is shown as text), the
signed-in guard and its redirect, CSRF checks, cookies, and the headers every page carries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.console import repository
from app.console.auth import (
    COOKIE_PATH,
    FLASH_COOKIE,
    SESSION_COOKIE,
    Operator,
    Signer,
    operators,
    same_token,
)
from app.console.present import FILTERS

HERE = Path(__file__).parent
STATIC_PATH = "/static/console"
# No inline script, no other origin: HTML that slipped into a page could not run or call out.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters.update(FILTERS)
templates = Jinja2Templates(env=_env)


class SignInRequired(Exception):
    pass


class ConsoleOff(Exception):
    pass


class BadForm(Exception):
    """A POST whose CSRF token is missing or wrong: nothing was changed."""


def signer(request: Request) -> Signer:
    return request.app.state.console_signer


def configured(request: Request) -> None:
    if not operators(request.app.state.runtime.settings):
        raise ConsoleOff()


def current_operator(request: Request) -> Operator | None:
    """The operator whose valid cookie this is, unless they signed out of that sign-in."""
    operator = signer(request).operator(request.cookies.get(SESSION_COOKIE))
    if operator is None or repository.signed_out(request.app.state.runtime.engine, operator.session):
        return None
    return operator


def signed_in(request: Request) -> Operator:
    configured(request)
    operator = current_operator(request)
    if operator is None:
        raise SignInRequired()
    request.state.operator = operator
    return operator


OperatorDep = Annotated[Operator, Depends(signed_in)]


def check_csrf(operator: Operator, given: str | None) -> None:
    if not same_token(operator.csrf, given):
        raise BadForm()


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=secure(request))


def forget_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure(request))


def render(request: Request, template: str, context: dict[str, Any], status: int = 200,
           operator: Operator | None = None) -> HTMLResponse:
    flash = signer(request).read_flash(request.cookies.get(FLASH_COOKIE))
    values = {"operator": operator, "csrf": operator.csrf if operator else "", "flash": flash,
              "static": STATIC_PATH, "path": request.url.path, **context}
    response = templates.TemplateResponse(request, template, values, status_code=status, headers=HEADERS)
    if flash and status < 300:
        forget_cookie(response, request, FLASH_COOKIE)
    return response


def redirect(request: Request, to: str, flash: tuple[str, str] | None = None) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})
    if flash:
        set_cookie(response, request, FLASH_COOKIE, signer(request).flash(*flash), 300)
    return response


def safe_next(value: str | None) -> str:
    """Only a console address of this site: never another host (`//evil`, `/\\evil`)."""
    if value and value.startswith("/console") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    return "/console"


def install(app: FastAPI, router) -> None:
    app.state.console_signer = Signer(app.state.runtime.settings)
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        # A form posted without a session comes back to the console, not to its action.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/console"
        return RedirectResponse(f"/console/login?next={quote(target, safe='/')}", status_code=303,
                                headers={"Cache-Control": "no-store"})

    @app.exception_handler(ConsoleOff)
    async def _off(request: Request, exc: ConsoleOff) -> Response:
        return templates.TemplateResponse(request, "off.html", {"operator": None, "csrf": "", "flash": None,
                                                                "static": STATIC_PATH, "path": request.url.path},
                                          status_code=503, headers=HEADERS)

    @app.exception_handler(BadForm)
    async def _bad_form(request: Request, exc: BadForm) -> Response:
        return templates.TemplateResponse(request, "bad_form.html", {
            "operator": None, "csrf": "", "flash": None, "static": STATIC_PATH, "path": request.url.path},
            status_code=403, headers=HEADERS)
