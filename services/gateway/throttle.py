"""Slow down password guessing per account and client address, in a bounded store.

Failures are counted per (account, address) pair and per address. A flood of wrong passwords for
`admin` from one address pauses that address (and that pair), never `admin` signing in from another
address; a successful sign-in clears its pair. The store keeps at most `max_entries` keys, forgetting
the least recently used, so a flood of names or addresses cannot grow it without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    """Allows `pair_limit` failures per (account, address) and `address_limit` per address in `window` s."""

    def __init__(
        self,
        pair_limit: int = 10,
        address_limit: int = 30,
        window: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"pair": pair_limit, "address": address_limit}
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._failures: OrderedDict[tuple[str, ...], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, account: str, address: str) -> float:
        """Seconds to wait before `account` may try again from `address`; 0 when it may try now."""
        with self._lock:
            now = self.clock()
            waits = [
                failures[0] + self.window - now
                for kind, key in self._keys(account, address)
                if len(failures := self._recent(key, now)) >= self.limits[kind]
            ]
        return max([0.0, *waits])

    def failed(self, account: str, address: str) -> None:
        """Record one failed attempt."""
        with self._lock:
            now = self.clock()
            for kind, key in self._keys(account, address):
                failures = self._failures.get(key)
                if failures is None:
                    failures = self._failures[key] = deque(maxlen=self.limits[kind])
                failures.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_entries:
                self._failures.popitem(last=False)

    def succeeded(self, account: str, address: str) -> None:
        """Forget the failures of the pair that just signed in."""
        with self._lock:
            self._failures.pop(("pair", account, address), None)

    def entries(self) -> int:
        """Keys held in the store."""
        with self._lock:
            return len(self._failures)

    @staticmethod
    def _keys(account: str, address: str) -> list[tuple[str, tuple[str, ...]]]:
        return [("pair", ("pair", account, address)), ("address", ("address", address))]

    def _recent(self, key: tuple[str, ...], now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] + self.window <= now:
            failures.popleft()
        return failures
