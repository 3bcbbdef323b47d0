"""Outgoing e-mail: SMTP when SMTP_HOST is set, the log otherwise (handy while setting up)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

log = logging.getLogger("llm_planner.mail")


def send_mail(settings, to: str, subject: str, body: str) -> str:
    """Returns how it was sent: 'smtp' or 'log'."""
    if not settings.smtp_host:
        log.warning("SMTP_HOST is not set; the e-mail to %s is only logged: %s | %s", to, subject, body)
        return "log"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)
    return "smtp"
