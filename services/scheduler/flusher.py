"""Flush the bus on a thread of its own, so no tick and no batch of starts waits on acks or disk syncs.

Ticks and the starter only queue their messages (recorded in the store first) and ask for a flush; this
thread flushes whenever asked, covering every request made while the previous flush ran. A flush that
fails is logged and reported by `problem()` until one succeeds; stopping flushes one last time.
"""

from __future__ import annotations

import logging
import threading

from canopy.bus import Bus

log = logging.getLogger(__name__)


class BusFlusher:
    """Waits for flush requests and flushes the bus once for all of them."""

    name = "bus-flusher"

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._asked = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failing: str | None = None

    def request(self) -> None:
        """Have what was queued so far flushed soon; return at once."""
        self._asked.set()

    def start(self) -> None:
        """Start the flushing thread."""
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Flush what is left and end the thread."""
        self._stopping = True
        self._asked.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def problem(self) -> str | None:
        """Why messages may not be reaching the bus, or None."""
        if self._thread is None or not self._thread.is_alive():
            return "the flushing thread is not running"
        return f"flushing the bus failed: {self._failing}" if self._failing else None

    def _loop(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            last = self._stopping  # read before flushing: a stop asked meanwhile gets a flush of its own
            try:
                self.bus.flush()
            except Exception as exc:
                self._failing = f"{type(exc).__name__}: {exc}"
                log.exception("flushing the scheduler's messages failed")
            else:
                self._failing = None
            if last:
                return
