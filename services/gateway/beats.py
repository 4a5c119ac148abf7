"""The last heartbeat of every platform service this gateway heard on the bus, judged up or missing."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from canopy.contracts import Heartbeat
from canopy.healing.liveness import service_missing

MAX_SERVICES = 256  # service names remembered; the one silent longest is forgotten first
NODE_AGENT = "node_agent"  # node agents are listed one by one from their reports instead

BeatState = Literal["up", "missing"]


@dataclass(frozen=True)
class _LastBeat:
    """When (monotonic and wall time) a service last beat, from which instance, and its promised interval."""

    monotonic: float
    at: datetime
    instance: str
    interval: float


@dataclass(frozen=True)
class ServiceBeat:
    """A platform service as its heartbeats show it: up, or missing since it skipped too many beats."""

    service: str
    state: BeatState
    last_seen: datetime
    instance: str


class ServiceBeats:
    """The latest beat of each service name (bounded), judged by the heartbeat service's own rule."""

    def __init__(
        self, misses: float, limit: int = MAX_SERVICES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.misses = misses
        self.limit = limit
        self.clock = clock
        self._beats: OrderedDict[str, _LastBeat] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, beat: Heartbeat) -> None:
        """Remember a service's beat (not a node agent's), forgetting the longest-silent name when full."""
        if beat.service == NODE_AGENT:
            return
        last = _LastBeat(self.clock(), datetime.now(UTC), beat.instance, beat.interval)
        with self._lock:
            self._beats[beat.service] = last
            self._beats.move_to_end(beat.service)
            while len(self._beats) > self.limit:
                self._beats.popitem(last=False)

    def services(self) -> list[ServiceBeat]:
        """Every service heard, by name, up or missing (CANOPY_HEAL_SERVICE_TIMEOUT intervals of silence)."""
        now = self.clock()
        with self._lock:
            beats = sorted(self._beats.items())
        return [
            ServiceBeat(name, self._state(now - last.monotonic, last.interval), last.at, last.instance)
            for name, last in beats
        ]

    def _state(self, silent_for: float, interval: float) -> BeatState:
        """Missing after CANOPY_HEAL_SERVICE_TIMEOUT silent intervals, as the heartbeat service judges."""
        return "missing" if service_missing(silent_for, interval, self.misses) else "up"
