"""register_customer and verify_customer_email: the starter kit's example flow. A new
customer gets a code by e-mail; the code is stored only as an HMAC, expires, and allows a
limited number of attempts."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from pydantic import Field, field_validator

from app.tools import ToolArgs, ToolContext, ToolError, send_mail, tool, utcnow
from plugins.customers import records

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"


class RegisterCustomerArgs(ToolArgs):
    name: str = Field(..., min_length=1, max_length=200, description="Full name")
    email: str = Field(..., max_length=254, pattern=EMAIL_PATTERN, description="E-mail address")

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("name is empty")
        return value

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


def _code_hash(ctx: ToolContext, email: str, code: str) -> str:
    # Keyed, so a copy of the table alone does not give the codes away.
    key = ctx.settings.confirm_keys[-1].encode()
    return hmac.new(key, f"{email}:{code.strip()}".encode(), hashlib.sha256).hexdigest()


def _send_code(ctx: ToolContext, conn, customer_id: int, name: str, email: str) -> str:
    code = f"{secrets.randbelow(10**6):06d}"
    records.add_verification(conn, customer_id, email, _code_hash(ctx, email, code),
                             utcnow() + timedelta(seconds=ctx.settings.verification_ttl_sec))
    minutes = ctx.settings.verification_ttl_sec // 60
    return send_mail(ctx.settings, email, "Your verification code",
                     f"Hello {name},\n\nyour verification code is {code}. It expires in {minutes} minutes.\n")


def _preview_register(args: RegisterCustomerArgs, ctx: ToolContext) -> str:
    return f"create customer {args.name} <{args.email}> and e-mail them a verification code"


@tool(permissions=["write"], tag="write", preview=_preview_register)
def register_customer(args: RegisterCustomerArgs, ctx: ToolContext) -> dict:
    """Register a new customer by name and e-mail; they get a code to verify the address."""
    try:
        with ctx.records.transaction() as conn:
            customer_id = records.add_customer(conn, args.name, args.email)
            sent = _send_code(ctx, conn, customer_id, args.name, args.email)
    except records.AlreadyRegistered:
        raise ToolError(f"a customer with e-mail {args.email} already exists") from None
    return {"customer_id": customer_id, "name": args.name, "email": args.email, "verified": False,
            "verification": f"a 6-digit code was sent to {args.email}" if sent == "smtp"
            else "the verification code was written to the service log (SMTP is not configured)"}


def _preview_verify(args: VerifyEmailArgs, ctx: ToolContext) -> str:
    return f"check the code for {args.email} and mark the address verified"


@tool(permissions=["write"], tag="write", preview=_preview_verify)
def verify_customer_email(args: VerifyEmailArgs, ctx: ToolContext) -> dict:
    """Verify a customer's e-mail with the 6-digit code they received."""
    limit = ctx.settings.verification_max_attempts
    with ctx.records.transaction() as conn:  # the try is counted and committed before anything is compared
        row = records.pending_verification(conn, args.email)
        if row is None:
            raise ToolError(f"there is no pending verification for {args.email}")
        if row.expires_at <= utcnow():
            raise ToolError("the code has expired; register again or ask for a new code")
        counted = records.count_attempt(conn, row.id, limit)
    if not counted:
        raise ToolError("too many wrong codes; this code no longer works")
    if not hmac.compare_digest(row.code_hash, _code_hash(ctx, args.email, args.code)):
        left = limit - row.attempts - 1
        raise ToolError(f"wrong code ({left} attempt{'s' if left != 1 else ''} left)")
    with ctx.records.transaction() as conn:
        records.mark_verified(conn, row.id, row.customer_id)
    return {"email": args.email, "verified": True}
