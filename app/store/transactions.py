"""Every write transaction goes through here: `writing` for those that append to the audit
chain (one at a time per process), `retried` to run one again when InnoDB gives it up."""

from __future__ import annotations

import logging
import threading
import weakref
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from pymysql.err import MySQLError
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
ATTEMPTS = 3

_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` for a transaction that appends to the audit chain. This process's
    such transactions run one at a time: they queue on the head's row lock in the database
    anyway, and queued here instead, each finds the head where the last one left it, so the
    guess in `app.audit.repository.append` holds (at 32 concurrent requests it failed for
    two turns in five, each then waiting on the lock, reading the head and hashing its
    events again). The lock is only an optimisation: the database still decides, across
    workers and machines. It is taken before the transaction begins, so a thread never
    holds a row lock while it waits here."""
    lock = _writers.get(engine)
    if lock is None:
        with _writers_guard:
            lock = _writers.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


# InnoDB's deadlock and lock wait timeout: the transaction (or its statement) was rolled
# back and nothing of it was kept; run again, it usually goes through.
_TRANSIENT = {1205, 1213}


def is_transient(exc: BaseException) -> bool:
    """A MySQL/MariaDB error worth running the whole transaction again for, whether
    SQLAlchemy wrapped it or it came from the driver's cursor (app/store/direct.py)."""
    error = getattr(exc, "orig", None) or exc
    return isinstance(error, MySQLError) and bool(error.args) and error.args[0] in _TRANSIENT


def transient_code(exc: BaseException) -> str:
    """What a log line says of it: the server's error code, not the statement (whose
    parameters may carry what users wrote)."""
    error = getattr(exc, "orig", None) or exc
    return f"MySQL error {error.args[0]}" if error.args else type(error).__name__


def retried(transaction: Callable[[], T], undo: Callable[[], None], what: str, log: logging.Logger) -> T:
    """`transaction()` (it begins and commits its own), run again after `undo()` puts the
    caller's state back, when InnoDB gave it up; up to ATTEMPTS times, then its error."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return transaction()
        except Exception as exc:
            if attempt == ATTEMPTS or not is_transient(exc):
                raise
            log.warning("%s met %s; trying again", what, transient_code(exc))
            undo()
    raise AssertionError("unreachable")


