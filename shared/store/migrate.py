"""Schema migrations (Alembic) on both backends, safe when several processes start at once.

SQLite: the upgrade runs inside `BEGIN IMMEDIATE`, so a second process waits and then finds the schema
current. PostgreSQL: the upgrade runs under a transaction-level advisory lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text

from shared.store.engine import SQLITE_BUSY_TIMEOUT_MS, backend_of, sync_url

MIGRATIONS = Path(__file__).with_name("migrations")
ADVISORY_LOCK_MIGRATE = 0x70617977  # "payw": serialises concurrent `migrate` runs on PostgreSQL


class SchemaError(Exception):
    """The database schema is missing or older than this version of paywatch expects."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _sync_engine(url: str) -> Engine:
    engine = create_engine(sync_url(url))
    if backend_of(url) == "sqlite":

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            dbapi_connection.execute("PRAGMA journal_mode=WAL")

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def current_revision(url: str) -> str | None:
    engine = _sync_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> str:
    """Bring the schema to `revision`; returns the revision now current."""
    engine = _sync_engine(url)
    try:
        with engine.begin() as conn:
            if backend_of(url) == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_MIGRATE})
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    assert current is not None
    return current


def ensure_schema(url: str, *, migrate_fresh_sqlite: bool = True) -> None:
    """Refuse an outdated schema (one-line SchemaError); a brand-new SQLite file migrates itself."""
    current = current_revision(url)
    head = head_revision()
    if current == head:
        return
    if current is None and migrate_fresh_sqlite and backend_of(url) == "sqlite":
        upgrade(url)
        return
    if current is None:
        raise SchemaError("the database has no paywatch schema yet: run `paywatch migrate`")
    raise SchemaError(
        f"the database schema is at {current}, this paywatch needs {head}: run `paywatch migrate`"
    )
