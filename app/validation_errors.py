"""Pydantic's validation errors as short lines a person reads: `where: what`."""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import ValidationError


def error_lines(errors: ValidationError | Iterable[dict[str, Any]], limit: int = 10,
                root: str = "value") -> list[str]:
    """One `loc: msg` line per error, at most `limit`; `root` names an error with no location."""
    if isinstance(errors, ValidationError):
        errors = errors.errors(include_url=False)
    return [f"{'.'.join(str(part) for part in error.get('loc', ())) or root}: {error.get('msg')}"
            for error in list(errors)[:limit]]
