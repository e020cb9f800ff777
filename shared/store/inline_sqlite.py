"""SQLite connections that run on the event loop's thread, for SQLAlchemy's aiosqlite dialect.

aiosqlite runs every call (cursor, execute, fetch, close, …) in a worker thread: each is a round trip
through a queue and the loop's self-pipe, about 70 µs on a small VM; one indexed read takes eight of
them and creating a payment forty. SQLite's own work for these statements takes microseconds, so
both engines run it inline instead: the same connection interface, with coroutines that complete
without suspending.

The one wait SQLite can impose must not block the loop: BEGIN IMMEDIATE when another process holds
the write lock. Write connections therefore use busy_timeout = 0 and retry BEGIN IMMEDIATE with
`asyncio.sleep` until `lock_wait_seconds` have passed (then "database is locked", as busy_timeout
would). Once BEGIN IMMEDIATE succeeds nothing else in the transaction waits for another connection
in WAL mode; readers never wait for writers. What still runs on the loop: the fsync at COMMIT
(`synchronous=FULL`), a fraction of a millisecond on this machine's disk.

Measured in bench/api.py and bench/ingest.py; see docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, lock_wait_seconds: float | None) -> None:
        self._cursor = cursor
        self._lock_wait = lock_wait_seconds

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if self._lock_wait is not None and operation == BEGIN_IMMEDIATE:
            await self._begin_immediate(self._lock_wait)
        elif parameters is None:
            self._cursor.execute(operation)
        else:
            self._cursor.execute(operation, parameters)
        return self

    async def _begin_immediate(self, lock_wait: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lock_wait
        pause = 0.001
        while True:
            try:
                self._cursor.execute(BEGIN_IMMEDIATE)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _BUSY or loop.time() >= deadline:
                    raise
            await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
            pause = min(pause * 2, 0.05)

    async def executemany(self, operation: str, seq_of_parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(operation, seq_of_parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _RunNow:
    """Stands in for aiosqlite's request queue (SQLAlchemy sets isolation_level through it)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to the awaiting caller, as aiosqlite's thread does
            future.set_exception(exc)


class InlineConnection:
    """The subset of aiosqlite.Connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, connection: sqlite3.Connection, lock_wait_seconds: float | None = None) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _RunNow(connection)
        self._lock_wait = lock_wait_seconds

    @classmethod
    async def connect(cls, database: str, *, lock_wait_seconds: float | None = None) -> InlineConnection:
        """`lock_wait_seconds`: a write connection (BEGIN IMMEDIATE waits asynchronously this long)."""
        # check_same_thread=False: SQLAlchemy's pool may be disposed from another thread at exit.
        return cls(
            sqlite3.connect(database, isolation_level=None, check_same_thread=False), lock_wait_seconds
        )

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._lock_wait)

    async def execute(self, operation: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        return await self.cursor().execute(operation, parameters)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()
