"""Outgoing e-mail: SMTP when SMTP_HOST is set, the log otherwise (handy while setting up)."""

from __future__ import annotations

import logging
import mimetypes
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

log = logging.getLogger("llm_planner.mail")


def send_mail(settings, to: str | Sequence[str], subject: str, body: str,
              attachments: Sequence[tuple[str, bytes]] = ()) -> str:
    """Returns how it was sent: 'smtp' or 'log'. `to`: one address or several;
    `attachments`: (file name, content) pairs, typed by the name's extension."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not settings.smtp_host:
        names = ", ".join(name for name, _ in attachments)
        log.warning("SMTP_HOST is not set; the e-mail to %s is only logged: %s | %s%s", ", ".join(recipients),
                    subject, body, f" | attachments: {names}" if names else "")
        return "log"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message.set_content(body)
    for name, content in attachments:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        maintype, subtype = kind.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)
    return "smtp"
