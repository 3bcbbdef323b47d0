"""send_email: an e-mail to the addresses OPERATOR_FILE's `[email] allow` patterns admit
(nobody when the section is missing), with files of the folder attached, through the
service's mailer (SMTP_*)."""

from __future__ import annotations

import re
import smtplib
from pathlib import Path

from pydantic import Field, field_validator

from app.tools import (
    OperatorFileError,
    ToolArgs,
    ToolContext,
    ToolError,
    load_operator,
    send_mail,
    tool,
)

# No comma, semicolon, angle bracket or quote: one address is one recipient, never a list.
ADDRESS = r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
MAX_RECIPIENTS = 20
MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 2**20  # all of them together


class SendEmailArgs(ToolArgs):
    to: list[str] = Field(..., min_length=1, max_length=MAX_RECIPIENTS,
                          description="One address or a list of them")
    subject: str = Field(..., min_length=1, max_length=200, pattern=r"^[^\r\n]*$")
    body: str = Field(..., max_length=100_000)
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS,
                                   description="Paths of files in the folder")

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        out = []
        for address in value:
            address = address.strip()
            if len(address) > 254 or not re.fullmatch(ADDRESS, address):
                raise ValueError(f"{address[:80]!r} is not an e-mail address")
            if address.lower() not in (a.lower() for a in out):
                out.append(address)
        return out


def _refused(args: SendEmailArgs, ctx: ToolContext) -> None:
    """Every recipient must match OPERATOR_FILE's [email] allow: else nothing is sent."""
    try:
        section = load_operator(ctx.settings.operator_file).email
    except OperatorFileError as exc:
        raise ToolError(str(exc)) from None
    if section is None or not section.allow:
        raise ToolError("no recipient is allowed: OPERATOR_FILE has no [email] allow patterns; nothing was sent")
    refused = [address for address in args.to if not section.allows(address)]
    if refused:
        raise ToolError(f"not allowed by OPERATOR_FILE's [email] allow: {', '.join(refused)}; nothing was sent")


def _files(args: SendEmailArgs, ctx: ToolContext) -> list[tuple[Path, str]]:
    files, total = [], 0
    for relative in args.attachments:
        path = ctx.workspace.resolve(relative)
        if not path.is_file():
            raise ToolError(f"attachment {relative!r} is not a file in the folder")
        total += path.stat().st_size
        if total > MAX_ATTACHMENT_BYTES:
            raise ToolError(f"the attachments pass {MAX_ATTACHMENT_BYTES // 2**20} MB together")
        files.append((path, ctx.workspace.relative(path)))
    return files


def _preview(args: SendEmailArgs, ctx: ToolContext) -> str:
    _refused(args, ctx)
    files = _files(args, ctx)
    body = args.body if len(args.body) <= 600 else args.body[:600] + " …"
    attached = f"\nattached: {', '.join(name for _, name in files)}" if files else ""
    return f"e-mail to {', '.join(args.to)}: {args.subject!r}{attached}\n{body}".rstrip()


def _sent(out: dict) -> str:
    return f"e-mailed {', '.join(out['to'])}: {out['subject']}"


@tool(permissions=["network"], tag="write", preview=_preview, render=_sent)
def send_email(args: SendEmailArgs, ctx: ToolContext) -> dict:
    """Send an e-mail (to allowed addresses only), optionally with files of the folder attached."""
    _refused(args, ctx)
    if not ctx.settings.smtp_host:
        raise ToolError("SMTP_HOST is not set on the server, so no e-mail can be sent")
    files = _files(args, ctx)
    try:
        attachments = [(path.name, path.read_bytes()) for path, _ in files]
    except OSError as exc:
        raise ToolError(f"an attachment could not be read ({exc.strerror or type(exc).__name__})") from None
    try:
        send_mail(ctx.settings, args.to, args.subject, args.body, attachments)
    except (smtplib.SMTPException, OSError) as exc:
        ctx.log.warning("send_email: the mail server did not take the e-mail: %s", type(exc).__name__)
        raise ToolError(f"the mail server did not take the e-mail ({type(exc).__name__}); nothing was sent") from None
    return {"to": args.to, "subject": args.subject, "attachments": [name for _, name in files]}
