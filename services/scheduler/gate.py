"""Give the starter the right of way: while it carries out a batch, the tick workers open no new session.

The ticks (preparing, unbinding) are mostly Python work between short transactions, and they share the
interpreter lock with the starter: left alone they would take turns with it for every round trip of its
batch. So while a thread is urgent (the starter, inside `urgent()`), a worker waits before opening a
session (one already inside a session carries on, so nobody waits on a lock a parked worker holds).

On SQLite the scheduler's sessions also take turns in the process: SQLite lets one writer in at a time
and makes the others retry with growing sleeps (1, 2, 5, 10 ... ms), so here they wait on a condition
instead, woken the moment the previous one commits, the urgent thread first. On a server database the
starter has a connection pool of its own, and more tick workers wait on round trips at once.
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
    """The same database; new sessions wait while a thread is urgent (or, one at a time, has one open)."""

    def __init__(self, store: Store, one_at_a_time: bool) -> None:
        super().__init__(store.engine)
        self.one_at_a_time = one_at_a_time
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
        taken = self.one_at_a_time and self._open > 0
        return taken if urgent else taken or self._urgent > 0

    def _release(self) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        with self._turns:
            self._open -= 1
            self._turns.notify_all()


def gated(store: Store) -> GatedStore:
    """`store` with the starter's right of way; in turns if it is SQLite."""
    return GatedStore(store, one_at_a_time=store.engine.dialect.name == "sqlite")


def starter_store(store: GatedStore) -> Store:
    """The starter's store: a pool of its own on a server database; on SQLite the gated one."""
    return store if store.one_at_a_time else Store(build_engine(store.engine.url))


def tick_workers(store: GatedStore) -> int:
    """How many ticks run at once: SQLite takes them in turns anyway; a server waits on round trips."""
    return SQLITE_WORKERS if store.one_at_a_time else SERVER_WORKERS
