"""The console's routes, gathered; `install` adds them, its static files and its error
pages to the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from app.console import memory_policy, pages, sign_in, web, work

router = APIRouter(include_in_schema=False)
for module in (sign_in, pages, work, memory_policy):
    router.include_router(module.router)


@router.api_route("/console/{rest:path}", methods=["GET", "POST"])
def unknown(request: Request, operator: web.OperatorDep, rest: str) -> Response:
    """Last: any other console address sends to sign-in without a session, like the pages,
    and is a plain 404 page with one."""
    return web.render(request, "missing.html", {"what": "Page", "message": f"no console page /console/{rest}"},
                      status=404, operator=operator)


def install(app: FastAPI) -> None:
    web.install(app, router)
