"""Alembic migrations of the platform state, run by Store.migrate()."""
