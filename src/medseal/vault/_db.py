"""The catalogue's database connections, on the DB-API directly.

SQLite through the standard library's :mod:`sqlite3`, PostgreSQL through
psycopg 3 (the ``postgres`` extra, imported only for a ``postgresql://`` URL).
The vault runs some forty statements, all in :mod:`medseal.vault._catalog_repo`
and :mod:`medseal.vault.audit`, written once as SQL text with ``:name``
parameters; this module runs them on either back end. It replaced SQLAlchemy,
whose import alone took 0.3 s of every ``medseal`` command (see
``docs/performance.md``); the tables and their SQLite and PostgreSQL types are
the ones SQLAlchemy created, so catalogues made before open unchanged.

Transactions: :meth:`Database.begin` is one write transaction (SQLite:
``BEGIN IMMEDIATE``, so two writers queue on the busy timeout instead of one
failing when it upgrades its lock), committed when the block ends and rolled
back if it raises. :meth:`Database.connect` is for reads: each SQLite
statement runs on its own; on PostgreSQL the block's transaction is rolled
back at the end unless the caller commits. Connections are pooled per process
(a forked child opens its own). Any driver error leaves as a one-line
:class:`~medseal.errors.StorageError` naming what failed, never the driver's
text (which can quote SQL and values).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from medseal.errors import ConfigError, StorageError

__all__ = ["Connection", "Database", "Result", "as_datetime", "in_list", "row_type"]

_POOL_SIZE = 5
# a quoted literal (left alone) or a ``:name`` parameter (not a ``::type`` cast)
_TOKEN = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s`` (a literal ``%`` doubled; quoted
    literals and ``::`` casts left alone)."""
    return _TOKEN.sub(
        lambda m: m.group(0) if m.group(1) is None else f"%({m.group(1)})s", sql.replace("%", "%%")
    )


@lru_cache(maxsize=256)
def row_type(names: tuple[str, ...]) -> Any:
    """A named tuple type for a result's columns (``count(*)`` and the like become ``_0``)."""
    return namedtuple("Row", names, rename=True)  # noqa: PYI024


def as_datetime(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite returns text, PostgreSQL a datetime)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise StorageError("a catalogue timestamp is not a date")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:p0, :p1, ...)`` for an ``IN`` clause, and its parameters (``(NULL)``, which
    matches nothing, for no values)."""
    if not values:
        return "(NULL)", {}
    names = [f"{prefix}{i}" for i in range(len(values))]
    return "(" + ", ".join(":" + n for n in names) + ")", dict(zip(names, values, strict=True))


class Result:
    """The rows of one statement, as named tuples (``row.column``)."""

    __slots__ = ("_cursor", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.rowcount = int(cursor.rowcount)

    def _type(self) -> Any:
        return row_type(tuple(d[0] for d in self._cursor.description))

    def __iter__(self) -> Iterator[Any]:
        if self._cursor.description is None:
            return iter(())
        return map(self._type()._make, self._cursor.fetchall())

    def all(self) -> list[Any]:
        return list(self)

    def first(self) -> Any | None:
        if self._cursor.description is None:
            return None
        row = self._cursor.fetchone()
        return None if row is None else self._type()._make(row)

    def one(self) -> Any:
        row = self.first()
        if row is None:
            raise StorageError("a catalogue query returned no row")
        return row

    def scalar(self) -> Any:
        return self.one()[0]


class Connection:
    """One pooled DB-API connection: :meth:`execute` and :meth:`executemany` take SQL
    with ``:name`` parameters."""

    __slots__ = ("_raw", "dialect")

    def __init__(self, raw: Any, dialect: str) -> None:
        self._raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Result:
        if self.dialect == "sqlite":
            return Result(self._raw.execute(sql, {} if params is None else params))
        return Result(self._raw.execute(_pyformat(sql), params))

    def executemany(self, sql: str, rows: Iterable[Mapping[str, Any]]) -> None:
        if self.dialect == "sqlite":
            self._raw.executemany(sql, rows)
        else:
            with self._raw.cursor() as cur:
                cur.executemany(_pyformat(sql), list(rows))

    def timestamp(self, value: datetime | None = None) -> Any:
        """``value`` (default: now) as this back end stores a timestamp column: SQLite as
        SQLAlchemy wrote it (UTC text without offset, so rows of older catalogues sort
        alike), PostgreSQL as an aware datetime (``TIMESTAMP WITH TIME ZONE``)."""
        value = datetime.now(UTC) if value is None else value.astimezone(UTC)
        if self.dialect == "sqlite":
            return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return value

    def commit(self) -> None:
        """Commit what this connection wrote (a no-op between SQLite statements)."""
        if self.dialect != "sqlite" or self._raw.in_transaction:
            self._raw.commit()


class Database:
    """Connections to the catalogue at ``url``: ``sqlite:///PATH`` (``sqlite://``: in memory)
    or ``postgresql://...`` (also ``postgresql+psycopg://`` and ``postgres://``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path: str | None = None  # SQLite's file
        if url.startswith("sqlite://"):
            self.dialect = "sqlite"
            path = url[len("sqlite://") :]
            if path.startswith("/"):
                path = path[1:]
            self.path = path if path not in ("", ":memory:") else None
            self._errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        elif url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            self.dialect = "postgresql"
            self._conninfo = "postgresql://" + url.split("://", 1)[1]
            try:
                import psycopg
            except ImportError:
                raise ConfigError(
                    "a PostgreSQL catalogue needs psycopg: pip install 'medseal[postgres]'"
                ) from None
            self._errors = (psycopg.Error,)
        else:
            scheme = url.split("://", 1)[0] if "://" in url else url[:20]
            raise ConfigError(
                f"unsupported catalogue URL scheme {scheme!r}: use sqlite:///PATH or postgresql://"
            )
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._memory: Any = None  # the one connection of an in-memory SQLite database

    # ------------------------------------------------------------------ pool
    def _open(self) -> Any:
        if self.dialect == "postgresql":
            import psycopg

            return psycopg.connect(self._conninfo)
        raw = sqlite3.connect(
            self.path or ":memory:", isolation_level=None, check_same_thread=False, timeout=10.0
        )
        # WAL with FULL sync: every commit is durable with one fsync of the log (the
        # rollback journal needs several), and readers never block the writer.
        for pragma in (
            "foreign_keys=ON",
            "journal_mode=WAL",
            "synchronous=FULL",
            "busy_timeout=10000",
        ):
            raw.execute(f"PRAGMA {pragma}")
        return raw

    def _acquire(self) -> Any:
        if self.path is None and self.dialect == "sqlite":
            if self._memory is None:
                self._memory = self._open()
            return self._memory
        with self._lock:
            if os.getpid() != self._pid:  # a forked child never shares its parent's sockets
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _release(self, raw: Any, *, healthy: bool) -> None:
        if raw is self._memory:
            return
        with self._lock:
            if healthy and len(self._idle) < _POOL_SIZE and os.getpid() == self._pid:
                self._idle.append(raw)
                return
        raw.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            raw.close()
        if self._memory is not None:
            self._memory.close()
            self._memory = None

    # ------------------------------------------------------------------ blocks
    @contextmanager
    def _block(self, what: str, *, write: bool) -> Iterator[Connection]:
        try:
            raw = self._acquire()
        except self._errors as exc:
            raise StorageError(f"could not {what}: {type(exc).__name__}") from exc
        conn = Connection(raw, self.dialect)
        broken = False  # after a driver error the connection is closed, not pooled
        try:
            if write and self.dialect == "sqlite":
                raw.execute("BEGIN IMMEDIATE")
            yield conn
            if write:
                raw.commit()
        except self._errors as exc:
            broken = True
            raise StorageError(f"could not {what}: {type(exc).__name__}") from exc
        finally:
            try:
                if self.dialect == "postgresql" or raw.in_transaction:
                    raw.rollback()  # nothing is left open for the next user (no-op after commit)
            except self._errors:
                broken = True
            self._release(raw, healthy=not broken)

    def begin(self, what: str = "update the catalogue") -> Any:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        return self._block(what, write=True)

    def connect(self, what: str = "read the catalogue") -> Any:
        """A connection for reads (a write in it needs :meth:`Connection.commit`)."""
        return self._block(what, write=False)

    def script(self, statements: Sequence[str], what: str) -> None:
        """Run DDL ``statements`` in one transaction."""
        with self.begin(what) as conn:
            for sql in statements:
                conn.execute(sql)
