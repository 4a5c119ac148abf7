"""Warm spares: the next replica of a model, already started on the node, handed over when one is replaced.

A replica's start is mostly its framework's imports (about 2 s for scikit-learn on two cores). A node
keeps one spare per model it serves, started after the model's replica is ready and confined exactly
like a replica; a replacement started on the same node takes the spare instead of starting cold. A
spare whose model has no replica left on the node is stopped: at once after an ordinary stop, and
after `grace` seconds after a replacement's stop (the replacement may go to another node).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

SPARE_GRACE_SECONDS = 30.0

Started = TypeVar("Started")


class Spares(Generic[Started]):
    """At most one started spare per key; `alive` tells a live one, `terminate` ends one."""

    def __init__(
        self,
        alive: Callable[[Started], bool],
        terminate: Callable[[Started], None],
        grace: float = SPARE_GRACE_SECONDS,
    ) -> None:
        self.alive = alive
        self.terminate = terminate
        self.grace = grace
        self._spares: dict[str, Started] = {}
        self._expiries: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    def has(self, key: str) -> bool:
        """Whether a live spare is kept for the key."""
        with self._lock:
            spare = self._spares.get(key)
        return spare is not None and self.alive(spare)

    def keep(self, key: str, spare: Started) -> None:
        """Keep a newly started spare (one that a concurrent start already provided is ended)."""
        with self._lock:
            previous = self._spares.get(key)
            self._spares[key] = spare
        if previous is not None:
            self.terminate(previous)

    def take(self, key: str) -> Started | None:
        """The key's live spare, no longer kept (a dead one is ended and None returned)."""
        with self._lock:
            self._cancel_expiry(key)
            spare = self._spares.pop(key, None)
        if spare is None or self.alive(spare):
            return spare
        log.info("the warm spare of %s had exited; starting cold", key)
        self.terminate(spare)
        return None

    def drop(self, key: str) -> None:
        """End the key's spare now."""
        with self._lock:
            self._cancel_expiry(key)
            spare = self._spares.pop(key, None)
        if spare is not None:
            self.terminate(spare)

    def expire(self, key: str) -> None:
        """End the key's spare after the grace period, unless a start takes it first."""
        with self._lock:
            if key not in self._spares:
                return
            self._cancel_expiry(key)
            timer = threading.Timer(self.grace, self.drop, args=(key,))
            timer.daemon = True
            timer.name = "spare-expiry"
            self._expiries[key] = timer
        timer.start()

    def started(self) -> list[Started]:
        """Every spare kept."""
        with self._lock:
            return list(self._spares.values())

    def close(self) -> None:
        """End every spare."""
        with self._lock:
            keys = list(self._spares)
        for key in keys:
            self.drop(key)

    def _cancel_expiry(self, key: str) -> None:
        """Cancel the key's pending expiry (the lock is held)."""
        timer = self._expiries.pop(key, None)
        if timer is not None:
            timer.cancel()
