"""Admission for long-lived responses (device streams, command waits): bounded per user and in total."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from canopy.errors import TooManyRequests


class LongLivedSlots:
    """At most `per_user` long-lived responses per user and `total` overall; the rest get 429.

    The gateway's server runs `total` threads more than its request threads, so responses admitted
    here can never occupy the threads that serve ordinary requests.
    """

    def __init__(self, per_user: int, total: int) -> None:
        self.per_user = per_user
        self.total = total
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def admit(self, user: str) -> None:
        """Take a slot for `user`, or TooManyRequests saying which bound was reached."""
        with self._lock:
            if self._held[user] >= self.per_user:
                raise TooManyRequests(
                    f"user {user!r} already holds {self.per_user} streams or command waits (the most "
                    "allowed, CANOPY_STREAMS_PER_USER); close one and retry"
                )
            if sum(self._held.values()) >= self.total:
                raise TooManyRequests(
                    f"the gateway already serves {self.total} streams and command waits (the most "
                    "allowed, CANOPY_STREAMS_TOTAL); retry later"
                )
            self._held[user] += 1

    def release(self, user: str) -> None:
        """Give back one of `user`'s slots."""
        with self._lock:
            self._held[user] -= 1
            if self._held[user] <= 0:
                del self._held[user]

    def held(self) -> int:
        """Slots in use."""
        with self._lock:
            return sum(self._held.values())

    @contextmanager
    def hold(self, user: str) -> Iterator[None]:
        """A slot for the duration of a block."""
        self.admit(user)
        try:
            yield
        finally:
            self.release(user)
