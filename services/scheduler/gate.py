"""Take turns on an SQLite store: the scheduler's threads queue in the process, the starter first.

SQLite lets one writer in at a time and makes the others retry with growing sleeps (1, 2, 5, 10 ...
ms), so a start arriving while the tick workers write could wait tens of milliseconds. Here the
scheduler's sessions wait on a condition instead, woken the moment the previous one commits; while a
thread is urgent (the starter, inside `urgent()`, its transaction and its publishes) the others open no
session at all. PostgreSQL needs none of this: there the starter has a connection pool of its own, and
more tick workers wait on round trips at once (holding them back while the starter waited on its round
trips starved the preparations: measured, tests/bench/scheduler.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from canopy.store import Store
from canopy.store.engine import build_engine

SQLITE_WORKERS = 4
SERVER_WORKERS = 8  # with the starter's own pool, within PostgreSQL's default pool of 5 + 10 overflow


class GatedStore(Store):
    """The same database as `store`; one session at a time in this process, none while a thread is urgent."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine)
        self._turns = threading.Condition()
        self._open = 0  # threads with a session open
        self._urgent = 0  # threads inside urgent()
        self._local = threading.local()

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """Inside the block this thread's sessions go first and other threads open none."""
        with self._turns:
            self._urgent += 1
        self._local.urgent = True
        try:
            yield
        finally:
            self._local.urgent = False
            with self._turns:
                self._urgent -= 1
                self._turns.notify_all()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction, once it is this thread's turn (nested sessions share the turn)."""
        self._acquire()
        try:
            with super().session() as session:
                yield session
        finally:
            self._release()

    def _acquire(self) -> None:
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        if depth:
            return
        urgent = bool(getattr(self._local, "urgent", False))
        with self._turns:
            while self._must_wait(urgent):
                self._turns.wait()
            self._open += 1

    def _must_wait(self, urgent: bool) -> bool:
        return self._open > 0 or (not urgent and self._urgent > 0)

    def _release(self) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        with self._turns:
            self._open -= 1
            self._turns.notify_all()


def gated(store: Store) -> Store:
    """`store` in turns if it is SQLite, else as it is."""
    return GatedStore(store) if store.engine.dialect.name == "sqlite" else store


def starter_store(store: Store) -> Store:
    """The starter's store: a pool of its own on a server database; on SQLite the gated one."""
    return store if isinstance(store, GatedStore) else Store(build_engine(store.engine.url))


def tick_workers(store: Store) -> int:
    """How many ticks run at once: SQLite takes them in turns anyway; a server waits on round trips."""
    return SQLITE_WORKERS if isinstance(store, GatedStore) else SERVER_WORKERS
