"""What the tool layer says itself (refusals, invalid arguments, timeouts), in
REPLY_LANGUAGE. The conversation's own texts live in app/conversations/texts.py."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "not_allowlisted": "tool {name!r} is not allowed (not in the allowlist)",
        "not_on_channel": "{tool} is not allowed on the {channel} channel (POLICY_FILE)",
        "not_for_subject": "{tool} is not allowed for {subject} {name} now (POLICY_FILE or `llm-planner policy`)",
        "blocked_permission": "needs permission {permissions}, which BLOCKED_PERMISSIONS forbids",
        "invalid_arguments": "invalid arguments: {details}",
        "args_not_object": "args must be an object",
        "timed_out": "timed out after {seconds:g}s",
        "internal_error": "internal error in {tool} ({kind})",
        "default_preview": "run {tool} with {args}",
    },
    "es": {
        "not_allowlisted": "la herramienta {name!r} no está permitida (no figura en la lista de permitidas)",
        "not_on_channel": "{tool} no está permitida en el canal {channel} (POLICY_FILE)",
        "not_for_subject": "{tool} no está permitida para {subject} {name} ahora (POLICY_FILE o `llm-planner policy`)",
        "blocked_permission": "necesita el permiso {permissions}, que BLOCKED_PERMISSIONS prohíbe",
        "invalid_arguments": "argumentos no válidos: {details}",
        "args_not_object": "args debe ser un objeto",
        "timed_out": "se agotó el tiempo tras {seconds:g} s",
        "internal_error": "error interno en {tool} ({kind})",
        "default_preview": "ejecutar {tool} con {args}",
    },
}

# Pydantic words its errors in English only: the usual ones, in Spanish. Any other keeps a
# Spanish lead-in and names the error type rather than showing English.
_ES_ERRORS = {
    "missing": "falta este campo",
    "extra_forbidden": "argumento desconocido",
    "string_type": "debe ser un texto",
    "int_type": "debe ser un número entero",
    "int_parsing": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
    "float_type": "debe ser un número",
    "float_parsing": "debe ser un número",
    "bool_type": "debe ser verdadero o falso",
    "bool_parsing": "debe ser verdadero o falso",
    "dict_type": "debe ser un objeto",
    "list_type": "debe ser una lista",
    "string_pattern_mismatch": "no tiene el formato esperado ({pattern})",
    "string_too_short": "debe tener al menos {min_length} carácter(es)",
    "string_too_long": "debe tener como máximo {max_length} caracteres",
    "greater_than_equal": "debe ser mayor o igual que {ge}",
    "greater_than": "debe ser mayor que {gt}",
    "less_than_equal": "debe ser menor o igual que {le}",
    "less_than": "debe ser menor que {lt}",
    "literal_error": "debe ser uno de: {expected}",
    "enum": "debe ser uno de: {expected}",
    "too_short": "debe tener al menos {min_length} elemento(s)",
    "too_long": "debe tener como máximo {max_length} elementos",
}


class ToolTexts:
    def __init__(self, language: str = "en") -> None:
        self.language = language if language in TEXTS else "en"
        self.table = TEXTS[self.language]

    def __call__(self, key: str, **values: Any) -> str:
        return self.table[key].format(**values)

    def validation(self, exc: ValidationError, limit: int = 10) -> str:
        """`where: what` for each error, in this language."""
        lines = []
        for error in exc.errors(include_url=False)[:limit]:
            where = ".".join(str(part) for part in error.get("loc", ())) or "args"
            lines.append(f"{where}: {self._message(error)}")
        return self("invalid_arguments", details="; ".join(lines))

    def _message(self, error: dict[str, Any]) -> str:
        if self.language == "en":
            return str(error.get("msg"))
        template = _ES_ERRORS.get(error.get("type", ""))
        if template is None:
            return f"valor no válido ({error.get('type')})"
        try:
            return template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError, ValueError):
            return template.split(" (")[0].split(" {")[0]
