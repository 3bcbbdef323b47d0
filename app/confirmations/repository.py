"""The statements of `pending_confirmations`, and of the wrong-code counter kept on the
session row. The decision of who takes a token is one conditional UPDATE."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.store.tables import messages, sessions
from app.store.tables import pending_confirmations as pc


class ConfirmationStatus(StrEnum):
    """pending -> consumed | cancelled; expiry is read from expires_at, never swept."""
    PENDING = "pending"
    CONSUMED = "consumed"
    CANCELLED = "cancelled"


def insert(conn: Connection, **values: Any) -> None:
    conn.execute(sa.insert(pc).values(status=ConfirmationStatus.PENDING.value, **values))


def claim(conn: Connection, *, token_id: str, channel: str, session_id: str, tool_name: str,
          args_hash: str, new_status: ConfirmationStatus, now: datetime) -> bool:
    """The whole decision is this one statement: of any number of concurrent callers,
    exactly one sees True."""
    return conn.execute(
        sa.update(pc)
        .where(pc.c.token_id == token_id, pc.c.status == ConfirmationStatus.PENDING.value,
               pc.c.expires_at > now, pc.c.channel == channel, pc.c.session_id == session_id,
               pc.c.tool_name == tool_name, pc.c.args_hash == args_hash)
        .values(status=new_status.value, resolved_at=now)
    ).rowcount == 1


def by_token_id(conn: Connection, token_id: str) -> Any:
    return conn.execute(sa.select(pc).where(pc.c.token_id == token_id)).one_or_none()


def by_short_code(conn: Connection, channel: str, session_id: str, code: str) -> Any:
    return conn.execute(
        sa.select(pc).where(pc.c.channel == channel, pc.c.session_id == session_id,
                            pc.c.short_code == code).order_by(pc.c.id.desc()).limit(1)).first()


def pending(conn: Connection, channel: str, session_id: str, now: datetime) -> list[Any]:
    """The session's confirmations still waiting for an answer, oldest first."""
    return list(conn.execute(
        sa.select(pc).where(pc.c.channel == channel, pc.c.session_id == session_id,
                            pc.c.status == ConfirmationStatus.PENDING.value, pc.c.expires_at > now)
        .order_by(pc.c.id).limit(20)))


def latest_turn(conn: Connection, channel: str, session_id: str) -> str | None:
    """The request id of the session's newest stored turn."""
    return conn.execute(
        sa.select(messages.c.request_id).where(messages.c.channel == channel, messages.c.session_id == session_id)
        .order_by(messages.c.id.desc()).limit(1)).scalar()


def _session(channel: str, session_id: str):
    return sessions.c.channel == channel, sessions.c.session_id == session_id


def locked_until(conn: Connection, channel: str, session_id: str) -> datetime | None:
    return conn.execute(sa.select(sessions.c.confirm_locked_until).where(
        *_session(channel, session_id))).scalar()


def count_failure(conn: Connection, channel: str, session_id: str) -> int:
    """One more wrong code; how many there are now."""
    where = _session(channel, session_id)
    conn.execute(sa.update(sessions).where(*where).values(
        confirm_failures=sessions.c.confirm_failures + 1))
    return conn.execute(sa.select(sessions.c.confirm_failures).where(*where)).scalar() or 0


def lock(conn: Connection, channel: str, session_id: str, until: datetime) -> None:
    conn.execute(sa.update(sessions).where(*_session(channel, session_id)).values(
        confirm_failures=0, confirm_locked_until=until))


def reset_failures(conn: Connection, channel: str, session_id: str) -> None:
    conn.execute(sa.update(sessions).where(
        *_session(channel, session_id), sessions.c.confirm_failures > 0).values(confirm_failures=0))


