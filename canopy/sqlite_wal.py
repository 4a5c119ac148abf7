"""Switching an SQLite file to write-ahead logging, shared by the SQLite bus and the SQLite store.

SQLite refuses some lock upgrades at once, without waiting out busy_timeout, where waiting could
deadlock: a switch to WAL while another connection holds the write lock of a file still in rollback
mode is one. Several processes opening a new file together meet exactly that, so the switch is retried.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable


def retry_while_locked(step: Callable[[], None], timeout: float) -> None:
    """Run `step`, retrying for up to `timeout` seconds while it raises sqlite3.OperationalError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _set_wal(connection: sqlite3.Connection | sqlite3.Cursor) -> None:
    """Switch the file to write-ahead logging so readers never block the writer."""
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":
        raise sqlite3.OperationalError(f"journal_mode is {mode}, not wal")


def switch_to_wal(connection: sqlite3.Connection | sqlite3.Cursor, timeout: float) -> None:
    """Switch the file to WAL, retrying for up to `timeout` seconds while another connection locks it."""
    retry_while_locked(lambda: _set_wal(connection), timeout)
