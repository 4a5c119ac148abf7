"""Platform state in SQLite or PostgreSQL: open_store(url) gives a Store with sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from canopy.store.engine import build_engine, conflict_on_duplicate, normalise_url
from canopy.store.migrate import upgrade_to_head
from canopy.store.models import ApiToken, Base, User, utcnow


class Store:
    """A database: the SQLAlchemy engine, a session factory and the schema migrations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block succeeds, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest revision; idempotent and safe to run concurrently."""
        upgrade_to_head(self.engine)

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
    "conflict_on_duplicate",
    "open_store",
    "utcnow",
]
