"""The hot path's few statements, run on the driver's own cursor.

SQLAlchemy Core still writes them, compiles them (once per dialect) and converts their
values with the columns' own types; only the execution skips its per-statement machinery
(execution context, compiled-cache lookup, result wrapping): about a tenth of a read-only
turn's CPU here (BENCHMARKS.md). They run inside the caller's SQLAlchemy transaction, on
its connection, so commit, rollback and the pool behave exactly as for any statement.
Everything that is not on every turn's path goes through SQLAlchemy as usual."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement


class _Form:
    """One statement as one dialect runs it: its SQL, and how to build its parameters."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        order = compiled.positiontup if dialect.positional else list(by_name)
        self.sql = compiled.string
        self.positional = dialect.positional
        # (name, conversion, value when the caller gives none: a literal written into the statement)
        self.params: list[tuple[str, Callable[[Any], Any] | None, Any]] = [
            (name, by_name[name].type.dialect_impl(dialect).bind_processor(dialect), by_name[name].value)
            for name in order]

    def args(self, values: dict[str, Any]) -> tuple | dict:
        converted = ((name, convert(values.get(name, default)) if convert else values.get(name, default))
                     for name, convert, default in self.params)
        if self.positional:
            return tuple(value for _, value in converted)
        return dict(converted)


class Direct:
    """A statement built with SQLAlchemy Core, run on the DBAPI cursor of a Connection.
    `keys`: for an INSERT, the columns every row gives."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement, self.keys = statement, keys
        self._forms: weakref.WeakKeyDictionary[Dialect, _Form] = weakref.WeakKeyDictionary()

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect)
        if form is None:
            form = self._forms[dialect] = _Form(self.statement, self.keys, dialect)
        return form

    @staticmethod
    @contextmanager
    def _cursor(conn: Connection) -> Iterator[Any]:
        # Begun through SQLAlchemy, so the Connection ends the transaction (commit, or a
        # rollback when it closes) just as it would after a statement of its own.
        if not conn.in_transaction():
            conn.begin()
        cursor = conn.connection.cursor()
        try:
            yield cursor
        except conn.dialect.loaded_dbapi.Error as exc:
            # What SQLAlchemy does when one of its own statements finds the connection gone
            # (its handler is private): drop it, and the pool's idle connections with it,
            # which went down with the server; otherwise each would fail a request in turn.
            if conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor):
                conn.invalidate(exc)
                conn.engine.dispose(close=False)
            raise
        finally:
            cursor.close()

    def rows(self, conn: Connection, values: dict[str, Any]) -> list[tuple]:
        form = self._form(conn.dialect)
        with self._cursor(conn) as cursor:
            cursor.execute(form.sql, form.args(values))
            return list(cursor.fetchall())

    def run(self, conn: Connection, values: dict[str, Any]) -> int:
        """Rows matched (MySQL dialects ask the server for matched, not changed, rows)."""
        form = self._form(conn.dialect)
        with self._cursor(conn) as cursor:
            cursor.execute(form.sql, form.args(values))
            return cursor.rowcount

    def run_many(self, conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
        form = self._form(conn.dialect)
        with self._cursor(conn) as cursor:
            cursor.executemany(form.sql, [form.args(row) for row in rows])
