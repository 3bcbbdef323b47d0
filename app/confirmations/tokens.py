"""Confirmation tokens: signed, bound to session, channel, tool and exact arguments,
consumed once by a conditional UPDATE so the database, not a lock, decides who runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.engine import Connection

from app.channel import Channel
from app.confirmations import repository
from app.confirmations.parsing import CODE_LENGTH, CROCKFORD, normalize_code
from app.confirmations.repository import ConfirmationStatus
from app.confirmations.sealing import SealBroken, Sealer
from app.store.tables import utcnow

SALT = "llm-planner/confirm/v1"


class ConfirmError(Exception):
    """`code` names the service text that explains the refusal; `guess` marks a short code
    that matched nothing, which counts against the session's wrong-guess budget; `until`:
    when a paused session's confirmations work again; `pending`: what a bare word could
    have meant."""

    def __init__(self, code: str, guess: bool = False, until: datetime | None = None,
                 pending: list[Waiting] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.guess = guess
        self.until = until
        self.pending = pending or []


@dataclass(frozen=True)
class Parked:
    token_id: str
    tool_name: str
    args: dict[str, Any]  # the real arguments, secrets unsealed: only to run the call
    preview: str
    shown_args: dict[str, Any] = field(default_factory=dict)  # secrets masked: to store and show
    secrets: tuple[str, ...] = ()  # the secret values, to be masked wherever they appear


@dataclass(frozen=True)
class Waiting:
    """A confirmation still waiting, with a token that answers it."""
    token: str
    tool_name: str
    preview: str
    expires_at: datetime
    request_id: str


@dataclass(frozen=True)
class Issued:
    token: str
    token_id: str
    expires_at: datetime


def args_hash(tool_name: str, args: dict[str, Any]) -> str:
    canonical = json.dumps([tool_name, args], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class Confirmations:
    def __init__(self, keys: list[str], ttl_sec: int, max_failures: int = 5) -> None:
        # itsdangerous signs with the last key and accepts any: rotation is "append, later drop".
        self.serializer = URLSafeTimedSerializer(keys, salt=SALT)
        self.keys = [key.encode() for key in keys]
        self.sealer = Sealer(self.keys)
        self.ttl = ttl_sec
        self.max_failures = max_failures

    def _short_code(self, key: bytes, token_id: str, session_id: str, channel: str,
                    tool_name: str, digest: str) -> str:
        """40 bits of an HMAC over everything the token binds: signed, bound, unguessable
        within the session's wrong-guess budget."""
        message = "|".join((SALT, token_id, session_id, channel, tool_name, digest)).encode()
        number = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:5], "big")
        return "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(CODE_LENGTH)))

    def issue(self, conn: Connection, *, request_id: str, channel: str, session_id: str,
              tool_name: str, args: dict[str, Any], preview: str,
              secret_args: frozenset[str] = frozenset(), key_name: str | None = None,
              agent: str | None = None) -> Issued:
        """`args`: the real arguments (the token binds them); `secret_args` are stored
        sealed, never in plain text."""
        token_id = secrets.token_urlsafe(12)
        digest = args_hash(tool_name, args)
        now = utcnow()
        expires_at = now + timedelta(seconds=self.ttl)
        code = None
        if Channel(channel).short_codes:
            code = self._short_code(self.keys[-1], token_id, session_id, channel, tool_name, digest)
        repository.insert(conn, token_id=token_id, request_id=request_id, channel=channel,
                          session_id=session_id, tool_name=tool_name,
                          args=self.sealer.seal(args, secret_args), args_hash=digest,
                          preview=preview, short_code=code, created_at=now, expires_at=expires_at,
                          api_key_name=key_name, agent=agent)
        return Issued(token=self._token(token_id, session_id, channel, tool_name, digest, code),
                      token_id=token_id, expires_at=expires_at)

    def _token(self, token_id: str, session_id: str, channel: str, tool_name: str, digest: str,
               code: str | None) -> str:
        if code:
            return f"{code[:4]}-{code[4:]}"
        return self.serializer.dumps([token_id, session_id, channel, tool_name, digest])

    def waiting(self, conn: Connection, channel: str, session_id: str) -> list[Waiting]:
        """The session's confirmations still waiting, each with a token that answers it."""
        return [Waiting(self._token(row.token_id, session_id, channel, row.tool_name, row.args_hash,
                                    row.short_code),
                        row.tool_name, row.preview, row.expires_at, row.request_id)
                for row in repository.pending(conn, channel, session_id, utcnow())]

    def latest_turn(self, conn: Connection, channel: str, session_id: str) -> str | None:
        return repository.latest_turn(conn, channel, session_id)

    def resolve_only(self, conn: Connection, action: str, *, channel: str, session_id: str) -> Parked:
        """A bare "confirm" / "cancel": answers the session's one waiting confirmation, through
        the same single-use claim as a token; none or several are refused, and so is any
        while the session's confirmations are paused."""
        locked = repository.locked_until(conn, channel, session_id)
        if locked is not None and locked > utcnow():
            raise ConfirmError("token_locked", until=locked)
        rows = repository.pending(conn, channel, session_id, utcnow())
        if not rows:
            raise ConfirmError("nothing_pending")
        if len(rows) > 1:
            raise ConfirmError("several_pending", pending=self.waiting(conn, channel, session_id))
        row = rows[0]
        status = ConfirmationStatus.CONSUMED if action == "confirm" else ConfirmationStatus.CANCELLED
        return self._take(conn, row.token_id, row.tool_name, row.args_hash, channel, session_id, status)

    def signed_token(self, token_id: str, session_id: str, channel: str, tool_name: str, digest: str) -> str:
        """A parked call's token, signed again for those allowed to see it (a task's API).
        It cannot outlive the parked call: taking it checks the row's own expiry."""
        return self.serializer.dumps([token_id, session_id, channel, tool_name, digest])

    def consume(self, conn: Connection, token: str, *, channel: str, session_id: str) -> Parked:
        return self._resolve(conn, token, channel, session_id, ConfirmationStatus.CONSUMED)

    def cancel(self, conn: Connection, token: str, *, channel: str, session_id: str) -> Parked:
        return self._resolve(conn, token, channel, session_id, ConfirmationStatus.CANCELLED)

    def _resolve(self, conn: Connection, token: str, channel: str, session_id: str,
                 new_status: ConfirmationStatus) -> Parked:
        if "." in token:
            token_id, tool_name, digest = self._verify(token, channel, session_id)
        else:
            token_id, tool_name, digest = self._verify_code(conn, token, channel, session_id)
        return self._take(conn, token_id, tool_name, digest, channel, session_id, new_status)

    def _take(self, conn: Connection, token_id: str, tool_name: str, digest: str, channel: str,
              session_id: str, new_status: ConfirmationStatus) -> Parked:
        now = utcnow()
        claimed = repository.claim(conn, token_id=token_id, channel=channel, session_id=session_id,
                                   tool_name=tool_name, args_hash=digest, new_status=new_status, now=now)
        row = repository.by_token_id(conn, token_id)
        if claimed and row is not None:
            try:
                args, shown = self.sealer.open(row.args)
            except SealBroken:
                raise ConfirmError("token_invalid") from None  # sealed with a dropped key, or altered
            if args_hash(row.tool_name, args) != digest:
                raise ConfirmError("token_invalid")  # the stored call was altered
            if row.short_code:
                repository.reset_failures(conn, channel, session_id)
            secrets_ = tuple(str(args[name]) for name in args if shown.get(name) != args[name])
            return Parked(token_id, row.tool_name, args, row.preview, shown, secrets_)
        if row is None:
            raise ConfirmError("token_invalid")
        if row.status == ConfirmationStatus.CONSUMED:
            raise ConfirmError("token_used")
        if row.status == ConfirmationStatus.CANCELLED:
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

    def _verify_code(self, conn: Connection, text: str, channel: str,
                     session_id: str) -> tuple[str, str, str]:
        if not Channel(channel).short_codes:
            raise ConfirmError("token_invalid")
        locked = repository.locked_until(conn, channel, session_id)
        if locked is not None and locked > utcnow():
            raise ConfirmError("token_locked", until=locked)
        code = normalize_code(text)
        row = None if code is None else repository.by_short_code(conn, channel, session_id, code)
        if row is None:
            raise ConfirmError("token_invalid", guess=True)
        if not any(hmac.compare_digest(code, self._short_code(key, row.token_id, session_id, channel,
                                                              row.tool_name, row.args_hash))
                   for key in self.keys):
            raise ConfirmError("token_invalid")  # signed with a dropped key, or the row was altered
        return row.token_id, row.tool_name, row.args_hash

    def register_failure(self, conn: Connection, channel: str, session_id: str) -> datetime | None:
        """Count one wrong code; when this one pauses the session's confirmations, until when."""
        if repository.count_failure(conn, channel, session_id) < self.max_failures:
            return None
        until = utcnow() + timedelta(seconds=self.ttl)
        repository.lock(conn, channel, session_id, until)
        return until
