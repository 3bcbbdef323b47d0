"""Secret values (a tool's `secret_args`: a code, a password) masked out of anything that is
stored, audited, logged or answered."""

from __future__ import annotations

import re
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


# -- memory: secrets by their shape, for text that is kept for later (a person's memories) --
# Keys and tokens whose value the service cannot know: well-known key prefixes, a bearer
# credential, and what follows "password is", "token:", "api key=", … (and the Spanish words).
SECRET_SHAPES = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}+"
    r"|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}+"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}+|\bgithub_pat_[A-Za-z0-9_]{20,}+"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}+"
    r"|\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{30,}+"
    r"|\bwhsec_[A-Za-z0-9+/=]{10,}+"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/-]{8,}+=*"
    r"|(?i:\b(?:password|passwd|pwd|passphrase|token|secret|api[ _-]?key|access[ _-]?key|pin|"
    r"contraseña|clave)\b(?:\s+(?:is|es|was|era)\s+|\s*[:=]\s*))(?P<value>[^\s,;]{3,}+)",
)


def mask_secret_shapes(text: str) -> str:
    """`text` with every secret-shaped run replaced by SECRET (after a "password is",
    only the value)."""
    def replace(match: re.Match) -> str:
        value = match.group("value")
        if value is None:
            return SECRET
        return match.group(0)[: match.start("value") - match.start(0)] + SECRET
    return SECRET_SHAPES.sub(replace, text)
