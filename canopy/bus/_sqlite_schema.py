"""The SQLite bus file: its URL options, tables and connection settings."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from canopy.errors import ConfigError, Unavailable
from canopy.private import secure_sqlite_file
from canopy.sqlite_wal import retry_while_locked, switch_to_wal

DEFAULT_SESSION_TIMEOUT = 10.0
DEFAULT_RETENTION_HOURS = 168.0
BUSY_TIMEOUT_MS = 10_000
# Each consumer holds a connection; SQLite's default 2 MB page cache each grows with the log (the OS
# already caches the file), so a process of some thirty consumers would keep tens of MB for nothing.
PAGE_CACHE_KIB = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL,
    partition_id INTEGER NOT NULL,
    msg_offset INTEGER NOT NULL,
    key TEXT,
    value BLOB NOT NULL,
    headers TEXT,
    ts INTEGER NOT NULL,
    PRIMARY KEY (topic, partition_id, msg_offset)
);
CREATE TABLE IF NOT EXISTS committed_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition_id INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition_id)
);
CREATE TABLE IF NOT EXISTS members (
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    topics TEXT NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE TABLE IF NOT EXISTS claims (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition_id INTEGER NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, topic, partition_id)
);
"""


@dataclass(frozen=True)
class SqliteBusOptions:
    """Where the bus file lives, how long a silent member keeps its partitions, how long messages stay."""

    path: Path
    session_timeout: float = DEFAULT_SESSION_TIMEOUT
    retention_hours: float = DEFAULT_RETENTION_HOURS


def parse_url(url: str) -> SqliteBusOptions:
    """Read sqlite:///abs/path.db[?session_timeout=SECONDS&retention_hours=HOURS] into options."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.strip("/"):
        raise ConfigError(f"Bus URL {url!r} is not valid; expected sqlite:///absolute/path.db")
    numbers = {"session_timeout": DEFAULT_SESSION_TIMEOUT, "retention_hours": DEFAULT_RETENTION_HOURS}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in numbers:
            raise ConfigError(f"Bus URL option {name!r} is not known; accepted options: {', '.join(numbers)}")
        try:
            numbers[name] = float(values[-1])
        except ValueError:
            numbers[name] = 0.0
        if numbers[name] <= 0:
            raise ConfigError(
                f"Bus URL option {name}={values[-1]!r} is not valid; accepted values: a number > 0"
            )
    return SqliteBusOptions(path=Path("/" + parts.path.lstrip("/")), **numbers)


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the bus file in autocommit mode with WAL journaling, creating the tables on first use."""
    try:
        secure_sqlite_file(path)
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=check_same_thread, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except (OSError, sqlite3.Error) as exc:
        raise Unavailable(f"SQLite bus at {path} cannot be opened: {exc}") from exc
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA journal_size_limit = 67108864")
    conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    try:
        switch_to_wal(conn, BUSY_TIMEOUT_MS / 1000)
        retry_while_locked(lambda: _create_tables(conn), BUSY_TIMEOUT_MS / 1000)
    except sqlite3.OperationalError as exc:
        raise Unavailable(f"SQLite bus at {path} cannot be opened: {exc}") from exc
    return conn


def _create_tables(conn: sqlite3.Connection) -> None:
    """Create the tables if this is a new bus file."""
    if conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'claims'").fetchone()[0]:
        return
    with write_transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Hold the file's write lock for the block; commit on success, roll back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def head_offset(conn: sqlite3.Connection, topic: str, partition: int) -> int:
    """The offset the next message written to a partition gets."""
    row = conn.execute(
        "SELECT max(msg_offset) FROM messages WHERE topic = ? AND partition_id = ?", (topic, partition)
    ).fetchone()
    return 0 if row[0] is None else int(row[0]) + 1
