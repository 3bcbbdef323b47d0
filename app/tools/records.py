"""The narrow handle a plugin gets for the records it keeps: a transaction on the
service's database, and the pieces to declare its own tables (migrated with the rest)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from app.store.tables import NAMING_CONVENTION, BigId, UtcDateTime, utcnow

__all__ = ["BigId", "Records", "UtcDateTime", "plugin_metadata", "utcnow"]


class Records:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Commits when the block ends, rolls back when it raises."""
        with self._engine.begin() as conn:
            yield conn


def plugin_metadata() -> sa.MetaData:
    """A plugin's own MetaData, with the service's constraint names. List it in
    `migrations/env.py` so `alembic revision --autogenerate` sees its tables."""
    return sa.MetaData(naming_convention=NAMING_CONVENTION)
