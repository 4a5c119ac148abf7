"""SQLAlchemy engines for SQLite and PostgreSQL, and the mapping of driver errors to platform errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from canopy.drivers import scheme_of
from canopy.errors import ConfigError, Conflict, StoreUnavailable, driver_not_found
from canopy.private import secure_sqlite_file
from canopy.sqlite_wal import switch_to_wal

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_PAGE_CACHE_KIB = 1024  # per pooled connection (default 2 MB each, growing with the file)
POSTGRES_CONNECT_TIMEOUT_S = 5
POSTGRES_DEFAULT_PORT = 5432

# URL schemes accepted by open_store, mapped to the SQLAlchemy dialect+driver actually used.
DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}

# Driver error codes of a violated UNIQUE or PRIMARY KEY constraint.
_SQLITE_UNIQUE_ERRORS = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_POSTGRES_UNIQUE_VIOLATION = "23505"


def normalise_url(url: str) -> URL:
    """Parse a store URL, choosing psycopg 3 for PostgreSQL and an absolute path for SQLite."""
    scheme = scheme_of(url)
    dialect = DIALECTS.get(scheme)
    if dialect is None:
        raise driver_not_found("store", scheme, list(DIALECTS))
    try:
        parsed = make_url(url).set(drivername=dialect)
    except ArgumentError as exc:
        raise ConfigError(f"CANOPY_DB_URL is not a valid database URL ({exc})") from exc
    if dialect != "sqlite":
        return parsed
    if parsed.database in (None, "", ":memory:"):
        raise ConfigError("CANOPY_DB_URL must name an SQLite file: sqlite:///path/to/canopy.db")
    return parsed.set(database=str(Path(parsed.database).expanduser().resolve()))


def describe_location(url: URL) -> str:
    """Where a database lives, for error messages: host:port for servers, the path for SQLite."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or POSTGRES_DEFAULT_PORT}"


def build_engine(url: URL) -> Engine:
    """Create a configured engine for a normalised URL (see normalise_url)."""
    if url.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url)
    else:
        connect_args = (
            {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        )
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    event.listen(engine, "handle_error", _unavailable_on_connect_failure(describe_location(url)))
    return engine


def _sqlite_engine(url: URL) -> Engine:
    """An SQLite engine on a file in WAL mode with foreign keys enforced and a busy timeout."""
    secure_sqlite_file(Path(str(url.database)))
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        """Apply the per-connection pragmas (busy_timeout first, so the others can wait for locks)."""
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            switch_to_wal(cursor, SQLITE_BUSY_TIMEOUT_MS / 1000)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_PAGE_CACHE_KIB}")
        finally:
            cursor.close()

    return engine


def _unavailable_on_connect_failure(location: str) -> Callable[[ExceptionContext], None]:
    """A handle_error listener raising StoreUnavailable when a connection cannot be made or was lost."""

    def listener(context: ExceptionContext) -> None:
        """Replace connection failures (not pre-ping probes, which reconnect) with StoreUnavailable."""
        if context.is_pre_ping or not (context.connection is None or context.is_disconnect):
            return
        reason = str(context.original_exception).strip().splitlines()[0]
        raise StoreUnavailable(f"{location} is unavailable: {reason}")

    return listener


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether an IntegrityError comes from a UNIQUE or PRIMARY KEY constraint."""
    orig = exc.orig
    return (
        getattr(orig, "sqlstate", None) == _POSTGRES_UNIQUE_VIOLATION
        or getattr(orig, "sqlite_errorname", None) in _SQLITE_UNIQUE_ERRORS
    )


@contextmanager
def conflict_on_duplicate(message: str) -> Iterator[None]:
    """Raise Conflict(message) for a unique-constraint violation inside the block.

    Wrap the `with store.session()` block (so the commit is covered) or flush inside it.
    """
    try:
        yield
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict(message) from exc
        raise
