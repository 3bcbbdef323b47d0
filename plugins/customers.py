"""register_customer: the starter kit's example of a confirmed write to the database."""

import sqlalchemy as sa
from pydantic import Field, field_validator

from app.store.tables import customers, utcnow
from app.tools import ToolArgs, ToolContext, ToolError, tool

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


def _preview(args: RegisterCustomerArgs, ctx: ToolContext) -> str:
    return f"create customer {args.name} <{args.email}>"


@tool(permissions=["write"], tag="write", preview=_preview)
def register_customer(args: RegisterCustomerArgs, ctx: ToolContext) -> dict:
    """Register a new customer by name and e-mail (asks for confirmation first)."""
    try:
        with ctx.engine.begin() as conn:
            result = conn.execute(sa.insert(customers).values(
                name=args.name, email=args.email, verified=False, created_at=utcnow()))
            customer_id = result.inserted_primary_key[0]
    except sa.exc.IntegrityError:
        raise ToolError(f"a customer with e-mail {args.email} already exists") from None
    return {"customer_id": customer_id, "name": args.name, "email": args.email, "verified": False}
