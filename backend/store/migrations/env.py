"""Alembic environment: migrations always run on a connection handed in by ``migrate()``."""

from __future__ import annotations

from alembic import context

from backend.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through backend.store.engine.migrate(), not the alembic CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
