"""Opening a new SQLite store while another connection holds the write lock, as concurrent migrators do."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from canopy.store import open_store


def test_a_new_store_switches_to_wal_once_another_connection_releases_the_write_lock(tmp_path: Path) -> None:
    """SQLite refuses that switch at once, skipping busy_timeout; the store failed 'database is locked'."""
    path = tmp_path / "canopy.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # rollback journal
    holder.execute("CREATE TABLE early (n)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO early VALUES (1)")  # the write lock, as another migrator's transaction
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.revisions() == set()  # connected: no schema yet
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        release.join()
        store.close()
        holder.close()
