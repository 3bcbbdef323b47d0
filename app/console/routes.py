"""The console's routes, gathered; `install` adds them, its static files and its error
pages to the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from app.console import memory_policy, pages, sign_in, web, work

router = APIRouter(include_in_schema=False)
for module in (sign_in, pages, work, memory_policy):
    router.include_router(module.router)


def install(app: FastAPI) -> None:
    web.install(app, router)
