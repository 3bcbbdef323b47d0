"""Confirmation tokens: signed, bound to session, channel, tool and exact arguments,
consumed once by a conditional UPDATE so the database, not a lock, decides who runs."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Connection

from app.store.tables import pending_confirmations as pc
from app.store.tables import utcnow

SALT = "llm-planner/confirm/v1"


class ConfirmError(Exception):
    """`code` names the service text that explains the refusal."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Parked:
    token_id: str
    tool_name: str
    args: dict[str, Any]
    preview: str


@dataclass(frozen=True)
class Issued:
    token: str
    token_id: str
    expires_at: datetime


def args_hash(tool_name: str, args: dict[str, Any]) -> str:
    canonical = json.dumps([tool_name, args], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Confirmations:
    def __init__(self, keys: list[str], ttl_sec: int) -> None:
        # itsdangerous signs with the last key and accepts any: rotation is "append, later drop".
        self.serializer = URLSafeTimedSerializer(keys, salt=SALT)
        self.ttl = ttl_sec

    def issue(self, conn: Connection, *, request_id: str, channel: str, session_id: str,
              tool_name: str, args: dict[str, Any], preview: str) -> Issued:
        token_id = secrets.token_urlsafe(12)
        digest = args_hash(tool_name, args)
        now = utcnow()
        expires_at = now + timedelta(seconds=self.ttl)
        conn.execute(sa.insert(pc).values(
            token_id=token_id, request_id=request_id, channel=channel, session_id=session_id,
            tool_name=tool_name, args=args, args_hash=digest, preview=preview, status="pending",
            created_at=now, expires_at=expires_at))
        token = self.serializer.dumps([token_id, session_id, channel, tool_name, digest])
        return Issued(token=token, token_id=token_id, expires_at=expires_at)

    def consume(self, conn: Connection, token: str, *, channel: str, session_id: str) -> Parked:
        return self._resolve(conn, token, channel, session_id, "consumed")

    def cancel(self, conn: Connection, token: str, *, channel: str, session_id: str) -> Parked:
        return self._resolve(conn, token, channel, session_id, "cancelled")

    def _resolve(self, conn: Connection, token: str, channel: str, session_id: str,
                 new_status: str) -> Parked:
        token_id, tool_name, digest = self._verify(token, channel, session_id)
        now = utcnow()
        # The whole decision is this one statement: of any number of concurrent callers,
        # exactly one sees rowcount 1.
        claimed = conn.execute(
            sa.update(pc)
            .where(pc.c.token_id == token_id, pc.c.status == "pending", pc.c.expires_at > now,
                   pc.c.channel == channel, pc.c.session_id == session_id,
                   pc.c.tool_name == tool_name, pc.c.args_hash == digest)
            .values(status=new_status, resolved_at=now)
        ).rowcount
        row = conn.execute(sa.select(pc).where(pc.c.token_id == token_id)).one_or_none()
        if claimed == 1 and row is not None:
            if args_hash(row.tool_name, row.args) != digest:
                raise ConfirmError("token_invalid")  # the stored call was altered
            return Parked(token_id, row.tool_name, row.args, row.preview)
        if row is None:
            raise ConfirmError("token_invalid")
        if row.status == "consumed":
            raise ConfirmError("token_used")
        if row.status == "cancelled":
            raise ConfirmError("token_cancelled")
        if row.expires_at <= now:
            raise ConfirmError("token_expired")
        raise ConfirmError("token_invalid")

    def _verify(self, token: str, channel: str, session_id: str) -> tuple[str, str, str]:
        try:
            payload = self.serializer.loads(token, max_age=self.ttl)
        except SignatureExpired:
            raise ConfirmError("token_expired") from None
        except BadData:
            raise ConfirmError("token_invalid") from None
        if not (isinstance(payload, list) and len(payload) == 5
                and all(isinstance(part, str) for part in payload)):
            raise ConfirmError("token_invalid")
        token_id, bound_session, bound_channel, tool_name, digest = payload
        if bound_channel != channel:
            raise ConfirmError("token_other_channel")
        if bound_session != session_id:
            raise ConfirmError("token_other_session")
        return token_id, tool_name, digest
