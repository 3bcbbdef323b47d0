"""The settings, or one clear message and exit status 1."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from app.config import Settings


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc'])).upper() or 'settings'}: {_plain(e['msg'])}" for e in exc.errors()]
        sys.exit("Invalid configuration (environment or .env):\n" + "\n".join(lines))


def _plain(message: str) -> str:
    # Pydantic prefixes a validator's own words with "Value error, ".
    return message.removeprefix("Value error, ")
