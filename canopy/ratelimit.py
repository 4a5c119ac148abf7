"""Sliding-window counters per key, with a limit per kind of key, in a bounded store (pure, explicit clock).

A key is a tuple whose first item is its kind (e.g. ("instance", "i-1")); each kind has its own limit.
The store keeps at most `max_entries` keys, forgetting the least recently used, so a flood of distinct
keys cannot grow it without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence

Key = tuple[str, ...]


class WindowCounter:
    """Counts events per key over the last `window` seconds; a key of kind K is full at `limits[K]`."""

    def __init__(
        self,
        limits: Mapping[str, int],
        window: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._events: OrderedDict[Key, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, keys: Sequence[Key]) -> float:
        """Seconds until every key has room for one more event; 0 when there is room now."""
        with self._lock:
            now = self.clock()
            waits = [
                events[0] + self.window - now
                for key in keys
                if len(events := self._recent(key, now)) >= self.limits[key[0]]
            ]
        return max([0.0, *waits])

    def record(self, keys: Sequence[Key]) -> None:
        """Count one event on each key."""
        with self._lock:
            now = self.clock()
            for key in keys:
                events = self._events.get(key)
                if events is None:
                    events = self._events[key] = deque(maxlen=self.limits[key[0]])
                events.append(now)
                self._events.move_to_end(key)
            while len(self._events) > self.max_entries:
                self._events.popitem(last=False)

    def forget(self, key: Key) -> None:
        """Drop the events of one key."""
        with self._lock:
            self._events.pop(key, None)

    def entries(self) -> int:
        """Keys held in the store."""
        with self._lock:
            return len(self._events)

    def _recent(self, key: Key, now: float) -> deque[float]:
        events = self._events.get(key, deque())
        while events and events[0] + self.window <= now:
            events.popleft()
        return events
