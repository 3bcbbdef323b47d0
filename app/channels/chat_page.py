"""The web chat page: one self-contained HTML file (no external fonts, scripts or images)
that talks to POST /agent, the web channel."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).parent / "pages" / "chat.html"


@lru_cache(maxsize=1)
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/chat", response_class=HTMLResponse)
def chat_page() -> HTMLResponse:
    # The page writes the server's texts as text only; it may not be framed by another site.
    return HTMLResponse(_page(), headers={
        "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/chat")
