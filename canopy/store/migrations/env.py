"""Alembic environment: migrates the connection that canopy.store.alembic_config carries."""

from __future__ import annotations

from alembic import context

from canopy.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through canopy.store (Store.migrate), not the alembic CLI.")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
