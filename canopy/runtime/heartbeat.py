"""The heartbeat sender: one small message per interval for each service of a process, saying it is alive."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime

from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.contracts import Heartbeat
from canopy.runtime.component import LoopThread
from canopy.runtime.health import HEARTBEAT_PREFIX, Check


class HeartbeatSender(LoopThread):
    """Publishes Heartbeat(service, instance, seq) for each service every `interval` s, keyed by instance.

    One thread beats for every service of the process, and each round is flushed once, so a bus that
    stops taking messages shows as the heartbeat of each of them failing.
    """

    def __init__(self, bus: Bus, services: str | Sequence[str], interval: float) -> None:
        super().__init__()
        self.services = [services] if isinstance(services, str) else list(services)
        self.name = HEARTBEAT_PREFIX + "+".join(self.services)
        self.bus = bus
        host = f"{socket.gethostname()}:{os.getpid()}"
        self.instances = {service: f"{service}@{host}" for service in self.services}
        self.idle_seconds = interval
        self.started_at = datetime.now(UTC)
        self.seq = 0

    def checks(self) -> dict[str, Check]:
        """The health check of each service's heartbeat (all of them this thread's)."""
        return {HEARTBEAT_PREFIX + service: self.problem for service in self.services}

    def step(self) -> None:
        """Send one beat for each service, then flush them together."""
        for service, instance in self.instances.items():
            beat = Heartbeat(
                service=service,
                instance=instance,
                seq=self.seq,
                interval=self.idle_seconds,
                started_at=self.started_at,
            )
            publish(self.bus, beat, key=instance)
        self.bus.flush(timeout=max(1.0, self.idle_seconds))
        self.seq += 1
