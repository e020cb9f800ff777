"""Alembic environment: always driven programmatically by shared.store.migrate with a live connection."""

from __future__ import annotations

from alembic import context

from shared.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `paywatch migrate`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite has almost no ALTER TABLE: Alembic copies and moves the table
    transactional_ddl=True,  # SQLite DDL is transactional; a failed migration leaves nothing half-done
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
