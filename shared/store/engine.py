"""Engines for both backends behind one interface.

SQLite: WAL (readers never block the writer), a busy timeout, and `BEGIN IMMEDIATE` for every write
transaction so the API and the watcher can share the file: a deferred transaction that reads and then
writes can fail with SQLITE_BUSY at once, whereas BEGIN IMMEDIATE waits for the lock up to the timeout.
PostgreSQL: psycopg 3, READ COMMITTED; row locks (`FOR UPDATE`) serialise changes to one payment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.store.inline_sqlite import InlineConnection

Backend = Literal["sqlite", "postgresql"]
SQLITE_BUSY_TIMEOUT_MS = 10_000
_AFTER_COMMIT: ContextVar[list[Callable[[], None]] | None] = ContextVar("paywatch_after_commit", default=None)


def after_commit(hook: Callable[[], None]) -> None:
    """Run `hook` once the current `Database.write()` transaction commits (never on rollback).

    For effects outside the database that must match what was committed, such as metrics. Outside
    a write transaction it runs at once.
    """
    hooks = _AFTER_COMMIT.get()
    if hooks is None:
        hook()
    else:
        hooks.append(hook)


def backend_of(url: str) -> Backend:
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    raise ValueError(f"unsupported database URL scheme {scheme!r}")


def async_url(url: str) -> URL:
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+psycopg")


def sync_url(url: str) -> URL:
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


def install_sqlite_hooks(
    sync_engine: Any, *, begin: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    """PRAGMAs on every new connection, and our own BEGIN instead of the sqlite3 module's."""

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not emit BEGIN on its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=FULL")  # the cursor's durability is the product's promise
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


@dataclass
class Database:
    """A writer and a reader engine on one database (the same engine on PostgreSQL)."""

    url: str
    backend: Backend
    writer: AsyncEngine
    reader: AsyncEngine
    # SQLite: write transactions in arrival order. Its writes run inline and never suspend, so a task
    # that commits and writes again would take the one writer connection back from the pool ahead
    # of tasks already waiting for it (measured: some waited seconds). asyncio.Lock is FIFO.
    write_turn: contextlib.AbstractAsyncContextManager[Any] = field(default_factory=contextlib.nullcontext)

    @classmethod
    def open(cls, url: str, *, pool_size: int = 5) -> Database:
        backend = backend_of(url)
        if backend == "sqlite":
            # Both engines run SQLite on the loop's thread (shared/store/inline_sqlite.py). One writer
            # connection per process (SQLite has one writer at a time anyway); it waits for another
            # process's write lock asynchronously, so SQLite itself must not wait (busy_timeout 0).
            path = async_url(url).database or ""
            lock_wait = SQLITE_BUSY_TIMEOUT_MS / 1000
            writer = create_async_engine(
                async_url(url),
                pool_size=1,
                max_overflow=0,
                async_creator=lambda: InlineConnection.connect(path, lock_wait_seconds=lock_wait),
            )
            reader = create_async_engine(
                async_url(url),
                pool_size=pool_size,
                max_overflow=0,
                async_creator=lambda: InlineConnection.connect(path),
            )
            install_sqlite_hooks(writer.sync_engine, begin="BEGIN IMMEDIATE", busy_timeout_ms=0)
            install_sqlite_hooks(reader.sync_engine, begin="BEGIN")
            return cls(url, backend, writer, reader, asyncio.Lock())
        engine = create_async_engine(
            async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        return cls(url, backend, engine, engine)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back on any exception."""
        hooks: list[Callable[[], None]] = []
        token = _AFTER_COMMIT.set(hooks)
        try:
            async with self.write_turn, self.writer.begin() as conn:
                yield conn
        finally:
            _AFTER_COMMIT.reset(token)
        for hook in hooks:  # only reached when the commit succeeded
            hook()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def close(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
