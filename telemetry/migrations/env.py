"""Alembic environment: runs on the connection handed in by telemetry.store.migrate."""

from alembic import context

from telemetry.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
