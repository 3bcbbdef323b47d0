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
        "token_locked_until": "Too many wrong confirmation codes in this conversation: confirmations are paused until {until} (about {minutes} min). Nothing was run.",
        "nothing_pending": "There is no confirmation waiting in this conversation. Nothing was run.",
        "several_pending": "{n} confirmations are waiting; say which one with its token:\n{pending}\nNothing was run.",
        "pending_item": "- {tool}: {preview}\n  confirm {token} / cancel {token}",
        "budget_tokens": "This conversation has used its model budget for this hour ({n} tokens). Direct commands still work: /help",
        "budget_tool_calls": "this session's tool-call budget is used up ({n} per hour)",
        "tool_failed": "{tool} failed: {error}",
        "tool_blocked": "{tool} was refused: {error}",
        "tools_failed": "{n} tool call(s) failed",
        "plan_invalid": "The model did not produce a valid plan after {attempts} attempt(s). Nothing was run. Please rephrase, or use a direct command (/help).",
        "model_unavailable": "The model is not reachable ({provider} at {url}): {error}. Direct commands still work: /help",
        "model_not_configured": "No model is configured (set {setting}). Direct commands still work: /help",
        "unknown_command": "Unknown command /{name}. Send /help for the list.",
        "bad_command": "Could not read that command: {error}",
        "internal_error": "Something went wrong on our side; it is on record as request {request_id}. Nothing else was run.",
        "help": "Send a message in your own words, or a direct command:\n/tools: the tools and their arguments\n/<tool> key=value …: run a tool, e.g. /list_dir path=logs or /read_file path=app.log max_lines=20\nconfirm <token> / cancel <token>: answer a confirmation request (with only one waiting, 'confirm' or 'cancel' alone will do)\n/help: this text",
        "tools_header": "Tools (write tools ask for confirmation):",
        "button_confirm": "Confirm",
        "button_cancel": "Cancel",
    },
    "es": {
        "confirm_request": "⚠️ {tool} necesita tu confirmación.\n{preview}\nPara ejecutarlo, responde: confirmar {token}\nPara descartarlo: cancelar {token}\n(vence {expires_at})",
        "confirmed_done": "Confirmado: {tool} se ejecutó.",
        "confirmed_failed": "Confirmado, pero {tool} falló: {error}",
        "cancelled": "Cancelado: {tool} no se ejecutará.",
        "token_invalid": "Este código de confirmación no es válido: fue alterado o nunca se emitió. No se ejecutó nada.",
        "token_expired": "Este código de confirmación venció. No se ejecutó nada; pídelo de nuevo.",
        "token_used": "Este código de confirmación ya se usó. No se volvió a ejecutar nada.",
        "token_cancelled": "Esta confirmación fue cancelada. No se ejecutó nada.",
        "token_other_session": "Este código de confirmación pertenece a otra conversación. No se ejecutó nada.",
        "token_other_channel": "Este código de confirmación se emitió en otro canal. No se ejecutó nada.",
        "token_locked": "Demasiados códigos de confirmación equivocados en esta conversación: las confirmaciones quedan en pausa un tiempo. No se ejecutó nada.",
        "token_locked_until": "Demasiados códigos de confirmación equivocados en esta conversación: las confirmaciones quedan en pausa hasta las {until} (unos {minutes} min). No se ejecutó nada.",
        "nothing_pending": "No hay ninguna confirmación pendiente en esta conversación. No se ejecutó nada.",
        "several_pending": "Hay {n} confirmaciones pendientes; indica cuál con su código:\n{pending}\nNo se ejecutó nada.",
        "pending_item": "- {tool}: {preview}\n  confirmar {token} / cancelar {token}",
        "budget_tokens": "Esta conversación agotó su presupuesto de modelo para esta hora ({n} tokens). Los comandos directos siguen funcionando: /help",
        "budget_tool_calls": "esta conversación agotó su presupuesto de llamadas a herramientas ({n} por hora)",
        "tool_failed": "{tool} falló: {error}",
        "tool_blocked": "{tool} fue rechazada: {error}",
        "tools_failed": "{n} llamada(s) a herramientas fallaron",
        "plan_invalid": "El modelo no produjo un plan válido tras {attempts} intento(s). No se ejecutó nada. Reformula la petición o usa un comando directo (/help).",
        "model_unavailable": "El modelo no responde ({provider} en {url}): {error}. Los comandos directos siguen funcionando: /help",
        "model_not_configured": "No hay ningún modelo configurado (define {setting}). Los comandos directos siguen funcionando: /help",
        "unknown_command": "Comando desconocido /{name}. Envía /help para ver la lista.",
        "bad_command": "No se pudo leer ese comando: {error}",
        "internal_error": "Algo falló por nuestra parte; quedó registrado como la petición {request_id}. No se ejecutó nada más.",
        "help": "Escribe un mensaje con tus palabras, o un comando directo:\n/tools: las herramientas y sus argumentos\n/<herramienta> clave=valor …: ejecutar una herramienta, p. ej. /list_dir path=logs o /read_file path=app.log max_lines=20\nconfirmar <código> / cancelar <código>: responder a una petición de confirmación (con una sola pendiente, basta «confirmar» o «cancelar»)\n/help: este texto",
        "tools_header": "Herramientas (las de escritura piden confirmación):",
        "button_confirm": "Confirmar",
        "button_cancel": "Cancelar",
    },
}


class Texts:
    def __init__(self, language: str) -> None:
        self.language = language if language in TEXTS else "en"
        self.table = TEXTS[self.language]

    def __call__(self, key: str, **values) -> str:
        return self.table[key].format(**values)
