"""Slow down password guessing: after repeated failures an account is paused for a short while."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class LoginThrottle:
    """Allows `limit` failures per account in `window` seconds, then refuses until the oldest expires."""

    def __init__(self, limit: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, account: str) -> float:
        """Seconds to wait before `account` may try again; 0 when it may try now."""
        with self._lock:
            failures = self._recent(account)
            if len(failures) < self.limit:
                return 0.0
            return max(0.0, failures[0] + self.window - self.clock())

    def failed(self, account: str) -> None:
        """Record one failed attempt."""
        with self._lock:
            self._recent(account).append(self.clock())

    def succeeded(self, account: str) -> None:
        """Forget the failures of an account that signed in."""
        with self._lock:
            self._failures.pop(account, None)

    def _recent(self, account: str) -> deque[float]:
        failures = self._failures[account]
        while failures and failures[0] + self.window <= self.clock():
            failures.popleft()
        return failures
