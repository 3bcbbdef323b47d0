"""Engine construction: one per process, tuned for SQLite or MySQL/MariaDB."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


def create_db_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # No pre-ping: a file has no connection to lose, and the ping is a statement per checkout.
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping and no pool reset: each costs a round trip per checkout, and a turn checks
    # out twice. Every use of a connection here ends its own transaction (engine.begin()
    # commits or rolls back; a closed Connection rolls back what it began), and a dropped
    # connection invalidates the pool on its first error, so one request fails, not many.
    return sa.create_engine(url, pool_pre_ping=False, pool_reset_on_return=None, pool_recycle=1800,
                            pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers proceed while one writer commits; busy_timeout queues writers
    # instead of failing them with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits.
    # MySQL/MariaDB is the store for deployments where that matters.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
