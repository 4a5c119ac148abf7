"""The heartbeat sender: one small message per interval saying this service instance is alive."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.contracts import Heartbeat
from canopy.runtime.component import LoopThread


class HeartbeatSender(LoopThread):
    """Publishes Heartbeat(service, instance, seq) every `interval` seconds, keyed by instance.

    Each beat is flushed, so a bus that stops taking messages shows as this component failing.
    """

    def __init__(self, bus: Bus, service: str, interval: float) -> None:
        super().__init__()
        self.name = f"heartbeat:{service}"
        self.bus = bus
        self.service = service
        self.instance = f"{service}@{socket.gethostname()}:{os.getpid()}"
        self.idle_seconds = interval
        self.started_at = datetime.now(UTC)
        self.seq = 0

    def step(self) -> None:
        """Send one beat."""
        beat = Heartbeat(
            service=self.service,
            instance=self.instance,
            seq=self.seq,
            interval=self.idle_seconds,
            started_at=self.started_at,
        )
        publish(self.bus, beat, key=self.instance)
        self.bus.flush(timeout=max(1.0, self.idle_seconds))
        self.seq += 1
