"""Alembic environment of the capacity store (its own version table, so the capacity API can
share a database with the recorder)."""

from alembic import context

from hospital_capacity.store import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
