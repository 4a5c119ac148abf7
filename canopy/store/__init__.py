"""Platform state in SQLite or PostgreSQL: open_store(url) gives a Store with sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from canopy.store.engine import build_engine, conflict_on_duplicate, normalise_url
from canopy.store.models import ApiToken, Base, User, utcnow

SCRIPT_LOCATION = "canopy.store:migrations"

# Key of the PostgreSQL advisory lock held while migrating ("canopy" in ASCII).
ADVISORY_LOCK_KEY = 0x63616E6F7079


def alembic_config(connection: Connection) -> AlembicConfig:
    """An Alembic configuration, built in code, for the packaged migrations on `connection`.

    Also the way to write a new revision against a migrated development database:
    `alembic.command.revision(alembic_config(conn), "what changed", autogenerate=True, rev_id="0002")`.
    """
    config = AlembicConfig()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def _begin_locked(connection: Connection) -> None:
    """Begin the migration transaction holding a lock that makes concurrent migrators wait.

    PostgreSQL: a transaction-level advisory lock. SQLite: BEGIN IMMEDIATE takes the write lock
    up front (other writers wait up to the busy timeout). The commit releases either.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """A database: the SQLAlchemy engine, a session factory and the schema migrations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block succeeds, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision in one locked transaction.

        Idempotent (a no-op when current) and safe when several processes start at once: the
        others wait for the lock, then find the schema current.
        """
        with self.engine.connect() as connection:
            _begin_locked(connection)
            command.upgrade(alembic_config(connection), "head")
            connection.commit()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(url: str) -> Store:
    """Open the store named by url: sqlite:///abs/path.db or postgresql://user:pass@host:port/db.

    Nothing connects yet; an unreachable server raises Unavailable on first use.
    """
    return Store(build_engine(normalise_url(url)))


__all__ = [
    "ApiToken",
    "Base",
    "Store",
    "User",
    "alembic_config",
    "conflict_on_duplicate",
    "open_store",
    "utcnow",
]
