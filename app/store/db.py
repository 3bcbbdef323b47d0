"""Engine construction: one per process, tuned for SQLite or MySQL/MariaDB."""

from __future__ import annotations

import weakref
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

_readers: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


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
    engine = sa.create_engine(
        url, pool_pre_ping=False, pool_reset_on_return=None, pool_recycle=1800,
        pool_size=10, max_overflow=20,
    )
    _use_fast_escaping(engine)
    return engine


def reader_for(engine: Engine) -> Engine:
    """Where a turn reads its history: on MySQL/MariaDB a small pool of connections in
    autocommit, so the one-statement read is its own transaction and needs no ROLLBACK
    round trip afterwards (one of the six a turn had). SQLite reads a local file: the
    engine itself. One per engine, however many runtimes share that engine."""
    if engine.dialect.name == "sqlite":
        return engine
    reader = _readers.get(engine)
    if reader is None:
        reader = _readers[engine] = sa.create_engine(
            engine.url, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True,
            # Turns read inside their TURN_CONCURRENCY slot: a couple of connections are kept,
            # more are opened when a larger setting asks for them, and closed again after.
            pool_pre_ping=False, pool_reset_on_return=None, pool_recycle=1800, pool_size=2, max_overflow=30)
        _use_fast_escaping(reader)
    return reader


def _use_fast_escaping(engine: Engine) -> None:
    if engine.dialect.driver == "pymysql":
        sa.event.listen(engine, "do_connect", _pymysql_connect)


def _pymysql_connect(dialect, _record, cargs, cparams):
    from app.store.escaping import Connection
    return Connection(*cargs, **cparams)


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
