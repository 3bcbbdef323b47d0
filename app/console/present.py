"""How stored values read on a page: times, JSON, long text cut short. Only text comes out;
the templates escape it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from app.store.tables import utcnow


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def until(moment: datetime | None) -> str:
    """How long from now, in words: "in 9 min", "expired"."""
    if moment is None:
        return "—"
    seconds = int((moment - utcnow()).total_seconds())
    if seconds <= 0:
        return "expired"
    if seconds < 120:
        return f"in {seconds} s"
    if seconds < 7200:
        return f"in {seconds // 60} min"
    return f"in {seconds // 3600} h"


def pretty(value: Any, limit: int = 4000) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str,
                                                           sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


FILTERS = {"when": when, "until": until, "pretty": pretty, "short": short}
