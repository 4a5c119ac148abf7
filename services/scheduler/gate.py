"""Take turns on an SQLite store: the scheduler's threads queue in the process, the starter first.

SQLite lets one writer in at a time and makes the others retry with growing sleeps (1, 2, 5, 10 ...
ms), so a start arriving while the tick workers write could wait tens of milliseconds. Here the
scheduler's sessions wait on a condition instead, woken the moment the previous one commits, and a
thread marked urgent (the starter) goes before every waiting worker. PostgreSQL needs none of this: there
the starter has a connection pool of its own, and more tick workers wait on round trips at once.
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
    """The same database as `store`; one session at a time in this process, urgent threads first."""

    def __init__(self, store: Store) -> None:
        super().__init__(store.engine)
        self._turns = threading.Condition()
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0
        self._local = threading.local()

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """Sessions opened by this thread inside the block go before the others waiting."""
        self._local.urgent = True
        try:
            yield
        finally:
            self._local.urgent = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction, once it is this thread's turn (nested sessions share it)."""
        self._acquire()
        try:
            with super().session() as session:
                yield session
        finally:
            self._release()

    def _acquire(self) -> None:
        me = threading.get_ident()
        urgent = bool(getattr(self._local, "urgent", False))
        with self._turns:
            if self._owner == me:
                self._depth += 1
                return
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._owner is not None or (not urgent and self._urgent_waiting):
                    self._turns.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._owner, self._depth = me, 1

    def _release(self) -> None:
        with self._turns:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
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
