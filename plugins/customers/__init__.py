"""register_customer and verify_customer_email: the starter kit's example flow. A new
customer gets a code by e-mail; the code is stored only as an HMAC, expires, and allows a
limited number of attempts. The code is a secret argument: never stored or shown, and
kept sealed while its call waits for confirmation."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from pydantic import Field, field_validator

from app.tools import ToolArgs, ToolContext, ToolError, send_mail, tool, utcnow
from plugins.customers import records
from plugins.customers.words import say

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"


class RegisterCustomerArgs(ToolArgs):
    name: str = Field(..., max_length=200, pattern=r"\S", description="Full name")
    email: str = Field(..., max_length=254, pattern=EMAIL_PATTERN, description="E-mail address")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())  # not empty: the pattern wants a visible character

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class VerifyEmailArgs(ToolArgs):
    email: str = Field(..., max_length=254, pattern=EMAIL_PATTERN, description="The customer's e-mail")
    code: str = Field(..., pattern=r"^\s*\d{6}\s*$", description="The 6-digit code from the e-mail")

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


def _code_hash(email: str, code: str, key: str) -> str:
    # Keyed, so a copy of the table alone does not give the codes away.
    return hmac.new(key.encode(), f"{email}:{code.strip()}".encode(), hashlib.sha256).hexdigest()


def _code_matches(ctx: ToolContext, stored: str, email: str, code: str) -> bool:
    """Any CONFIRM_SECRET key: a code sent before a rotation still works."""
    return any(hmac.compare_digest(stored, _code_hash(email, code, key)) for key in ctx.settings.confirm_keys)


def _send_code(ctx: ToolContext, conn, customer_id: int, name: str, email: str) -> str:
    code = f"{secrets.randbelow(10**6):06d}"
    records.add_verification(conn, customer_id, email, _code_hash(email, code, ctx.settings.confirm_keys[-1]),
                             utcnow() + timedelta(seconds=ctx.settings.verification_ttl_sec))
    minutes = ctx.settings.verification_ttl_sec // 60
    return send_mail(ctx.settings, email, say(ctx, "mail_subject"),
                     say(ctx, "mail_body", name=name, code=code, minutes=minutes))


def _preview_register(args: RegisterCustomerArgs, ctx: ToolContext) -> str:
    return say(ctx, "preview_register", name=args.name, email=args.email)


@tool(permissions=["write"], tag="write", preview=_preview_register)
def register_customer(args: RegisterCustomerArgs, ctx: ToolContext) -> dict:
    """Register a new customer by name and e-mail; they get a code to verify the address."""
    try:
        with ctx.records.transaction() as conn:
            customer_id = records.add_customer(conn, args.name, args.email)
            sent = _send_code(ctx, conn, customer_id, args.name, args.email)
    except records.AlreadyRegistered:
        raise ToolError(say(ctx, "already_exists", email=args.email)) from None
    return {"customer_id": customer_id, "name": args.name, "email": args.email, "verified": False,
            "verification": say(ctx, "sent_smtp", email=args.email) if sent == "smtp"
            else say(ctx, "sent_log")}


def _preview_verify(args: VerifyEmailArgs, ctx: ToolContext) -> str:
    return say(ctx, "preview_verify", email=args.email)


@tool(permissions=["write"], tag="write", preview=_preview_verify, secret_args=["code"])
def verify_customer_email(args: VerifyEmailArgs, ctx: ToolContext) -> dict:
    """Verify a customer's e-mail with the 6-digit code they received."""
    limit = ctx.settings.verification_max_attempts
    with ctx.records.transaction() as conn:  # the try is counted and committed before anything is compared
        row = records.pending_verification(conn, args.email)
        if row is None:
            raise ToolError(say(ctx, "no_pending", email=args.email))
        if row.expires_at <= utcnow():
            raise ToolError(say(ctx, "expired"))
        counted = records.count_attempt(conn, row.id, limit)
    if not counted:
        raise ToolError(say(ctx, "too_many"))
    if not _code_matches(ctx, row.code_hash, args.email, args.code):
        left = limit - row.attempts - 1
        raise ToolError(say(ctx, "wrong_code", left=left, s="s" if left != 1 else ""))
    with ctx.records.transaction() as conn:
        records.mark_verified(conn, row.id, row.customer_id)
    return {"email": args.email, "verified": True}
