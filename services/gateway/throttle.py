"""Slow down password guessing per account and client address, in a bounded store.

Failures are counted per (account, address) pair and per address. A flood of wrong passwords for
`admin` from one address pauses that address (and that pair), never `admin` signing in from another
address; a successful sign-in clears its pair. The store keeps at most `max_entries` keys, forgetting
the least recently used, so a flood of names or addresses cannot grow it without bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from canopy.ratelimit import Key, WindowCounter


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
        self._counter = WindowCounter(
            {"pair": pair_limit, "address": address_limit}, window, max_entries, clock
        )

    def retry_after(self, account: str, address: str) -> float:
        """Seconds to wait before `account` may try again from `address`; 0 when it may try now."""
        return self._counter.retry_after(self._keys(account, address))

    def failed(self, account: str, address: str) -> None:
        """Record one failed attempt."""
        self._counter.record(self._keys(account, address))

    def succeeded(self, account: str, address: str) -> None:
        """Forget the failures of the pair that just signed in."""
        self._counter.forget(("pair", account, address))

    def entries(self) -> int:
        """Keys held in the store."""
        return self._counter.entries()

    @staticmethod
    def _keys(account: str, address: str) -> list[Key]:
        return [("pair", account, address), ("address", address)]
