"""The customers plugin's own texts, in the service's REPLY_LANGUAGE (ctx.language)."""

from app.tools import ToolContext

TEXTS = {
    "en": {
        "mail_subject": "Your verification code",
        "mail_body": "Hello {name},\n\nyour verification code is {code}. It expires in {minutes} minutes.\n",
        "preview_register": "create customer {name} <{email}> and e-mail them a verification code",
        "preview_verify": "check the code for {email} and mark the address verified",
        "already_exists": "a customer with e-mail {email} already exists",
        "sent_smtp": "a 6-digit code was sent to {email}",
        "sent_log": "the verification code was written to the service log (SMTP is not configured)",
        "no_pending": "there is no pending verification for {email}",
        "expired": "the code has expired; register again or ask for a new code",
        "too_many": "too many wrong codes; this code no longer works",
        "wrong_code": "wrong code ({left} attempt{s} left)",
    },
    "es": {
        "mail_subject": "Tu código de verificación",
        "mail_body": "Hola, {name}:\n\ntu código de verificación es {code}. Vence en {minutes} minutos.\n",
        "preview_register": "crear el cliente {name} <{email}> y enviarle por correo un código de verificación",
        "preview_verify": "comprobar el código de {email} y marcar la dirección como verificada",
        "already_exists": "ya existe un cliente con el correo {email}",
        "sent_smtp": "se envió un código de 6 dígitos a {email}",
        "sent_log": "el código de verificación se escribió en el registro del servicio (SMTP no está configurado)",
        "no_pending": "no hay ninguna verificación pendiente para {email}",
        "expired": "el código venció; regístrate de nuevo o pide un código nuevo",
        "too_many": "demasiados códigos equivocados; este código ya no sirve",
        "wrong_code": "código equivocado (intentos restantes: {left})",
    },
}


def say(ctx: ToolContext, key: str, **values) -> str:
    return TEXTS.get(ctx.language, TEXTS["en"])[key].format(**values)
