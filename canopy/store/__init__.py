"""Platform state in SQLite or PostgreSQL: open_store(url) gives a Store with sessions and migrations."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from canopy.store.engine import build_engine, conflict_on_duplicate, normalise_url
from canopy.store.models import ApiToken, Base, User, utcnow

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

SCRIPT_LOCATION = "canopy.store:migrations"
VERSIONS = Path(__file__).with_name("migrations") / "versions"

# Key of the PostgreSQL advisory lock held while migrating ("canopy" in ASCII).
ADVISORY_LOCK_KEY = 0x63616E6F7079


def alembic_config(connection: Connection) -> AlembicConfig:
    """An Alembic configuration, built in code, for the packaged migrations on `connection`.

    Also the way to write a new revision against a migrated development database:
    `alembic.command.revision(alembic_config(conn), "what changed", autogenerate=True, rev_id="0002")`.
    """
    from alembic.config import Config as AlembicConfig

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
        others wait for the lock, then find the schema current. A current schema is recognised
        without loading Alembic (about 11 MB a long-running service would keep for nothing).
        """
        if self.revisions() == head_revisions():
            return
        from alembic import command

        with self.engine.connect() as connection:
            _begin_locked(connection)
            command.upgrade(alembic_config(connection), "head")
            connection.commit()

    def revisions(self) -> set[str]:
        """The schema revisions the database records (none before the first migration)."""
        try:
            with self.engine.connect() as connection:
                return set(connection.scalars(text("SELECT version_num FROM alembic_version")))
        except DBAPIError:
            return set()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@functools.cache
def head_revisions() -> set[str]:
    """The revisions no other revision builds on, read from the migration files' assignments."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                value = ast.literal_eval(node.value) if node.targets[0].id.endswith("revision") else None
                if node.targets[0].id == "revision":
                    revisions.add(str(value))
                elif node.targets[0].id == "down_revision" and value:
                    parents.update([value] if isinstance(value, str) else value)
    return revisions - parents


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
