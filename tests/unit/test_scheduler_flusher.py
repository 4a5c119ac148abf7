"""The scheduler's bus flusher: requests return at once, flushes coalesce, failures are reported."""

from __future__ import annotations

import threading
import time
from typing import cast

from canopy.bus import Bus
from services.scheduler.flusher import BusFlusher
from tests.deploy_helpers import wait_for


class SlowBus:
    """A bus whose flush blocks until released, counting flushes; it can be made to fail."""

    def __init__(self) -> None:
        self.flushes = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.failure: Exception | None = None

    def flush(self, timeout: float = 30.0) -> None:
        """Count, block until released, fail if told to."""
        self.flushes += 1
        self.entered.set()
        assert self.release.wait(5)
        if self.failure is not None:
            raise self.failure


def started(bus: SlowBus) -> BusFlusher:
    flusher = BusFlusher(cast(Bus, bus))
    flusher.start()
    return flusher


def test_a_request_returns_at_once_and_requests_during_a_flush_share_one_more_flush() -> None:
    bus = SlowBus()
    flusher = started(bus)
    flusher.request()
    assert bus.entered.wait(5)
    before = time.monotonic()
    for _ in range(20):
        flusher.request()
    assert time.monotonic() - before < 0.5 and bus.flushes == 1
    bus.release.set()
    wait_for(lambda: bus.flushes == 2, 5, "the second flush", 0.01)
    time.sleep(0.1)
    assert bus.flushes == 2 and flusher.problem() is None
    flusher.stop()


def test_a_failed_flush_is_reported_until_one_succeeds_and_stopping_flushes_once_more() -> None:
    bus = SlowBus()
    bus.failure = RuntimeError("broker gone")
    bus.release.set()
    flusher = started(bus)
    flusher.request()
    wait_for(flusher.problem, 5, "the failure reported", 0.01)
    assert flusher.problem() == "flushing the bus failed: RuntimeError: broker gone"
    bus.failure = None
    flushes = bus.flushes
    flusher.request()
    wait_for(lambda: flusher.problem() is None, 5, "the failure cleared", 0.01)
    flusher.stop()
    assert bus.flushes == flushes + 2
    assert flusher.problem() == "the flushing thread is not running"
