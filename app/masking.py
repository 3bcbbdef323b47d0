"""Secret values (a tool's `secret_args`: a code, a password) masked out of anything that is
stored, audited, logged or answered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SECRET = "[secret]"
# Shorter values are masked where they stand whole (an argument, a list item), not inside
# other text: masking every "42" of a reply would garble it and hide nothing.
MIN_IN_TEXT = 4


def mask_secrets(data: Any, secrets: Iterable[str]) -> Any:
    """`data` (text, or JSON-shaped lists and dicts) with every occurrence of each secret
    value replaced by SECRET; keys are kept."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first
    if not values:
        return data
    return _mask(data, values, set(values))


def _mask(data: Any, values: list[str], whole: set[str]) -> Any:
    if isinstance(data, str):
        if data in whole:
            return SECRET
        for value in values:
            if len(value) >= MIN_IN_TEXT and value in data:
                data = data.replace(value, SECRET)
        return data
    if isinstance(data, dict):
        return {key: _mask(value, values, whole) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_mask(item, values, whole) for item in data]
    if isinstance(data, (int, float)) and not isinstance(data, bool) and str(data) in whole:
        return SECRET
    return data
