"""The service's own words, in REPLY_LANGUAGE. The model replies in the user's language."""

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "confirm_request": "⚠️ {tool} needs your confirmation.\n{preview}\nTo run it, reply: confirm {token}\nTo drop it: cancel {token}\n(expires {expires_at})",
        "confirmed_done": "Confirmed: {tool} ran.",
        "confirmed_failed": "Confirmed, but {tool} failed: {error}",
        "cancelled": "Cancelled: {tool} will not run.",
        "token_invalid": "This confirmation token is not valid: it was altered or never issued. Nothing was run.",
        "token_expired": "This confirmation token has expired. Nothing was run; ask again for a new one.",
        "token_used": "This confirmation token was already used. Nothing was run again.",
        "token_cancelled": "This confirmation was cancelled. Nothing was run.",
        "token_other_session": "This confirmation token belongs to another conversation. Nothing was run.",
        "token_other_channel": "This confirmation token was issued on another channel. Nothing was run.",
        "token_locked": "Too many wrong confirmation codes in this conversation: confirmations are paused for a while. Nothing was run.",
        "budget_tokens": "This conversation has used its model budget for this hour ({n} tokens). Direct commands still work: /help",
        "tool_failed": "{tool} failed: {error}",
        "tool_blocked": "{tool} was refused: {error}",
        "plan_invalid": "The model did not produce a valid plan after {attempts} attempt(s). Nothing was run. Please rephrase, or use a direct command (/help).",
        "model_unavailable": "The model is not reachable ({provider} at {url}): {error}. Direct commands still work: /help",
        "model_not_configured": "No model is configured (set {setting}). Direct commands still work: /help",
        "unknown_command": "Unknown command /{name}. Send /help for the list.",
        "bad_command": "Could not read that command: {error}",
        "internal_error": "Something went wrong on our side; it is on record as request {request_id}. Nothing else was run.",
        "help": "Send a message in your own words, or a direct command:\n/tools: the tools and their arguments\n/<tool> key=value …: run a tool, e.g. /list_dir path=logs or /read_file path=app.log max_lines=20\nconfirm <token> / cancel <token>: answer a confirmation request\n/help: this text",
        "tools_header": "Tools (write tools ask for confirmation):",
        "button_confirm": "Confirm",
        "button_cancel": "Cancel",
    },
    "es": {
        "confirm_request": "⚠️ {tool} necesita tu confirmación.\n{preview}\nPara ejecutarlo, respondé: confirmar {token}\nPara descartarlo: cancelar {token}\n(vence {expires_at})",
        "confirmed_done": "Confirmado: {tool} se ejecutó.",
        "confirmed_failed": "Confirmado, pero {tool} falló: {error}",
        "cancelled": "Cancelado: {tool} no se ejecutará.",
        "token_invalid": "Este token de confirmación no es válido: fue alterado o nunca se emitió. No se ejecutó nada.",
        "token_expired": "Este token de confirmación venció. No se ejecutó nada; pedilo de nuevo.",
        "token_used": "Este token de confirmación ya se usó. No se volvió a ejecutar nada.",
        "token_cancelled": "Esta confirmación fue cancelada. No se ejecutó nada.",
        "token_other_session": "Este token de confirmación pertenece a otra conversación. No se ejecutó nada.",
        "token_other_channel": "Este token de confirmación se emitió en otro canal. No se ejecutó nada.",
        "token_locked": "Demasiados códigos de confirmación equivocados en esta conversación: las confirmaciones quedan en pausa un rato. No se ejecutó nada.",
        "budget_tokens": "Esta conversación agotó su presupuesto de modelo para esta hora ({n} tokens). Los comandos directos siguen funcionando: /help",
        "tool_failed": "{tool} falló: {error}",
        "tool_blocked": "{tool} fue rechazada: {error}",
        "plan_invalid": "El modelo no produjo un plan válido tras {attempts} intento(s). No se ejecutó nada. Reformulá el pedido o usá un comando directo (/help).",
        "model_unavailable": "El modelo no responde ({provider} en {url}): {error}. Los comandos directos siguen funcionando: /help",
        "model_not_configured": "No hay un modelo configurado (definí {setting}). Los comandos directos siguen funcionando: /help",
        "unknown_command": "Comando desconocido /{name}. Enviá /help para ver la lista.",
        "bad_command": "No se pudo leer ese comando: {error}",
        "internal_error": "Algo falló de nuestro lado; quedó registrado como el pedido {request_id}. No se ejecutó nada más.",
        "help": "Escribí un mensaje con tus palabras, o un comando directo:\n/tools: las herramientas y sus argumentos\n/<herramienta> clave=valor …: ejecutar una herramienta, p. ej. /list_dir path=logs o /read_file path=app.log max_lines=20\nconfirmar <token> / cancelar <token>: responder a un pedido de confirmación\n/help: este texto",
        "tools_header": "Herramientas (las de escritura piden confirmación):",
        "button_confirm": "Confirmar",
        "button_cancel": "Cancelar",
    },
}


class Texts:
    def __init__(self, language: str) -> None:
        self.table = TEXTS.get(language, TEXTS["en"])

    def __call__(self, key: str, **values) -> str:
        return self.table[key].format(**values)
