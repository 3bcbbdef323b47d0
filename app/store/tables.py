"""The tables. Core, not ORM: each repository writes a handful of plain statements."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Stable constraint names on every database; plugins' own tables use the same.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator):
    """Stored as naive UTC (microseconds on MySQL), always handed back timezone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


class CanonicalJSON(sa.TypeDecorator):
    """JSON that may be bound as already-encoded text (the audit trail encodes each event
    once, canonically, for its hash, and stores exactly that), read back as Python data."""

    impl = sa.JSON
    cache_ok = True

    def bind_processor(self, dialect):
        encode = super().bind_processor(dialect)

        def process(value):
            if isinstance(value, str):
                return value
            return encode(value) if encode else value
        return process


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# On MySQL/MariaDB the session ids here and the delivery ids below have a binary, no-pad
# collation (migration 0008): the default one made "Ana", "ana " and "ana" one session.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("facts", sa.JSON, nullable=False),
    # Wrong short confirmation codes sent in this session, and the lock they lead to.
    sa.Column("confirm_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("confirm_locked_until", UtcDateTime, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("channel", "session_id", name="uq_sessions_channel_session"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_messages_conversation", "channel", "session_id", "id"),
    sa.Index("ix_messages_created_at", "created_at"),  # the purge finds old ones by age
)

# Every inbound delivery, stored before it is acknowledged: the unique key is the dedupe,
# and a row left 'processing' by a dead owner is finished after a restart.
dedupe_messages = sa.Table(
    "dedupe_messages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("message_id", sa.String(191), nullable=False),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("reply_to", sa.JSON, nullable=True),  # what a channel needs to send the answer
    sa.Column("status", sa.String(16), nullable=False),  # processing | done
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("response", sa.JSON, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("channel", "message_id", name="uq_dedupe_messages_channel_message"),
    sa.Index("ix_dedupe_messages_unfinished", "status", "updated_at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(36), nullable=True, index=True),
    sa.Column("session_id", sa.String(128), nullable=True, index=True),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("kind", sa.String(48), nullable=False, index=True),
    sa.Column("data", CanonicalJSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    # The chain: each event's hash covers its content and the previous event's hash.
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# One row: the newest hash. Appending locks it, so the chain stays one line across workers.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
)

pending_confirmations = sa.Table(
    "pending_confirmations",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("token_id", sa.String(64), nullable=False, unique=True),
    sa.Column("request_id", sa.String(36), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("tool_name", sa.String(64), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("args_hash", sa.String(64), nullable=False),
    sa.Column("preview", sa.Text, nullable=False),
    sa.Column("short_code", sa.String(16), nullable=True),  # chat channels: what a person types
    # pending -> consumed | cancelled; expiry is read from expires_at, never swept.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("resolved_at", UtcDateTime, nullable=True),
    # The operator who approved or rejected it (`llm-planner confirm ID --by NAME`); none
    # when the session's own person sent `confirm <token>`.
    sa.Column("resolved_by", sa.String(128), nullable=True),
    # Who asked for it (the API_KEYS name, the agent): an operator's approval later checks
    # the call under their rules as they stand then.
    sa.Column("api_key_name", sa.String(64), nullable=True),
    sa.Column("agent", sa.String(64), nullable=True),
    sa.Index("ix_pending_confirmations_session", "channel", "session_id", "short_code"),
)

# Where the chain resumes after the oldest events were archived to a file: each row holds
# the archived range's last event (id and hash), how many events the range held and how
# many the chain has held up to it. The newest row is where `audit verify` starts.
audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("first_event_id", sa.BigInteger, nullable=False),
    sa.Column("last_event_id", sa.BigInteger, nullable=False, unique=True),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),  # in this range
    sa.Column("chain_events", sa.BigInteger, nullable=False),  # in the chain, up to and including it
    sa.Column("before", UtcDateTime, nullable=False),  # the archive's cut: events older than this
    sa.Column("archived_to", sa.String(1024), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
