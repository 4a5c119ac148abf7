"""Per-message events logged once per key and interval, with a count of the rest (a flood is a few lines).

EventSummary is pure, with an explicit clock: the first event of a key is reported at once, the others
within `interval` seconds are counted and come out as one summary when the interval ends; a key still
busy then stays quiet and is summarised again an interval later. SummarizedLog writes both to a logger
and flushes summaries whose interval ended on a timer. The Prometheus counters still count every event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, ...]
DEFAULT_INTERVAL = 10.0


@dataclass(frozen=True)
class Summary:
    """The events of one key not logged on their own: how many, over how long, and the last one."""

    key: Key
    count: int
    seconds: float
    last: str


@dataclass
class _Window:
    opened: float
    held: int = 0
    last: str = ""


class EventSummary:
    """Counts events per key in intervals; keeps at most `max_keys` keys, summarising the oldest first."""

    def __init__(self, interval: float = DEFAULT_INTERVAL, max_keys: int = 10_000) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._windows: dict[Key, _Window] = {}
        self._evicted: list[Summary] = []

    def note(self, key: Key, detail: str, now: float) -> bool:
        """Count one event; True when it is to be logged now (the first of its key in a quiet spell)."""
        window = self._windows.get(key)
        if window is not None:
            window.held += 1
            window.last = detail
            return False
        self._windows[key] = _Window(now)
        if len(self._windows) > self.max_keys:
            oldest = next(iter(self._windows))
            self._evicted += self._summaries({oldest: self._windows.pop(oldest)}, now)
        return True

    def due(self, now: float) -> list[Summary]:
        """The summaries of intervals that ended by `now`; a key with events held opens its next interval."""
        ended = {key: w for key, w in self._windows.items() if now >= w.opened + self.interval}
        for key, window in ended.items():
            if window.held:
                self._windows[key] = _Window(now)
            else:
                del self._windows[key]
        found, self._evicted = [*self._evicted, *self._summaries(ended, now)], []
        return found

    def next_due(self, now: float) -> float | None:
        """Seconds until the next summary is due, or None when no event is held."""
        if self._evicted:
            return 0.0
        ends = [w.opened + self.interval for w in self._windows.values() if w.held]
        return max(0.0, min(ends) - now) if ends else None

    def flush(self, now: float) -> list[Summary]:
        """Every held event's summary at once (e.g. when the service stops)."""
        found = [*self._evicted, *self._summaries(self._windows, now)]
        self._windows, self._evicted = {}, []
        return found

    @staticmethod
    def _summaries(windows: dict[Key, _Window], now: float) -> list[Summary]:
        return [Summary(key, w.held, now - w.opened, w.last) for key, w in windows.items() if w.held]


class SummarizedLog:
    """Logs per-message events through an EventSummary: the first of a key at once, then one summary line."""

    def __init__(
        self,
        logger: logging.Logger,
        level: int,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger, self.level, self.clock = logger, level, clock
        self.summary = EventSummary(interval)
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def event(self, key: Key, message: str) -> None:
        """Log `message` now if it is the first of `key` in a while, else count it for the summary."""
        with self._lock:
            now = self.clock()
            first = self.summary.note(key, message, now)
            due = self.summary.due(now)
            self._arm(now)
        self._write(due)
        if first:
            self.logger.log(self.level, "%s", message)

    def flush(self) -> None:
        """Write every held summary now."""
        with self._lock:
            due = self.summary.flush(self.clock())
        self._write(due)

    def _on_timer(self) -> None:
        """Write the summaries that came due, and wait for the next ones."""
        with self._lock:
            self._timer = None
            now = self.clock()
            due = self.summary.due(now)
            self._arm(now)
        self._write(due)

    def _arm(self, now: float) -> None:
        """Start the timer for the next summary, unless one is running or nothing is held."""
        wait = self.summary.next_due(now)
        if self._timer is None and wait is not None:
            self._timer = threading.Timer(wait, self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _write(self, due: list[Summary]) -> None:
        for found in due:
            self.logger.log(
                self.level,
                "%s (%d like it in the last %.0f s; the metrics count each)",
                found.last,
                found.count,
                found.seconds,
            )
