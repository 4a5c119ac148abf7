"""Run the packaged Alembic migrations under a database lock, so concurrent starts are safe."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, text

SCRIPT_LOCATION = "canopy.store:migrations"

# Key of the PostgreSQL advisory lock held while migrating ("canopy" in ASCII).
ADVISORY_LOCK_KEY = 0x63616E6F7079


def alembic_config(connection: Connection) -> AlembicConfig:
    """An Alembic configuration built in code that migrates `connection`.

    Also usable for new revisions:
    `alembic.command.revision(alembic_config(conn), "message", autogenerate=True)`.
    """
    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def _lock(connection: Connection) -> None:
    """Start the migration transaction holding a lock that makes concurrent migrators wait.

    PostgreSQL: a transaction-level advisory lock. SQLite: BEGIN IMMEDIATE takes the write lock
    up front (other writers wait up to the busy timeout). Both are released by the commit.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT 1"))
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_to_head(engine: Engine) -> None:
    """Upgrade the database to the newest revision in one locked transaction; a no-op when current."""
    with engine.connect() as connection:
        _lock(connection)
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
