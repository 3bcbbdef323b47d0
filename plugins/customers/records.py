"""The customers plugin's own tables and their statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.tools import BigId, UtcDateTime, plugin_metadata, utcnow

metadata = plugin_metadata()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# A customer's e-mail check: the code is kept only as an HMAC, expires, and allows a few tries.
email_verifications = sa.Table(
    "email_verifications",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.BigInteger, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("email", sa.String(254), nullable=False, index=True),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("verified_at", UtcDateTime, nullable=True),
)
ev = email_verifications


class AlreadyRegistered(Exception):
    pass


def add_customer(conn: Connection, name: str, email: str) -> int:
    try:
        return conn.execute(sa.insert(customers).values(
            name=name, email=email, verified=False, created_at=utcnow())).inserted_primary_key[0]
    except sa.exc.IntegrityError:
        raise AlreadyRegistered(email) from None


def add_verification(conn: Connection, customer_id: int, email: str, code_hash: str,
                     expires_at: datetime) -> None:
    conn.execute(sa.insert(ev).values(customer_id=customer_id, email=email, code_hash=code_hash,
                                      attempts=0, created_at=utcnow(), expires_at=expires_at))


def pending_verification(conn: Connection, email: str) -> Any:
    return conn.execute(sa.select(ev).where(ev.c.email == email, ev.c.verified_at.is_(None))
                        .order_by(ev.c.id.desc()).limit(1)).first()


def count_attempt(conn: Connection, verification_id: int, limit: int) -> bool:
    """One more try, by the database: concurrent guesses cannot share one. False when none is left."""
    return conn.execute(sa.update(ev).where(ev.c.id == verification_id, ev.c.attempts < limit)
                        .values(attempts=ev.c.attempts + 1)).rowcount == 1


def mark_verified(conn: Connection, verification_id: int, customer_id: int) -> None:
    conn.execute(sa.update(ev).where(ev.c.id == verification_id).values(verified_at=utcnow()))
    conn.execute(sa.update(customers).where(customers.c.id == customer_id).values(verified=True))
