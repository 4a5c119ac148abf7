"""Run a fleet of simulated devices: each sends at its own rate; controllers answer commands."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from canopy.bus import Bus, Credentials, open_bus
from canopy.bus.kafka_acl import device_user
from canopy.bus.naming import prefixed
from canopy.config import load_config
from simulators.config import DeviceConfig, FleetConfig
from simulators.controllers import CommandError, Controller
from simulators.generators import GENERATORS
from simulators.transports import BusCommands, BusLink, CommandHandler, Link

log = logging.getLogger(__name__)


@dataclass
class SimulatedDevice:
    """One device: its config, seeded randomness, controller state (if any) and its schedule."""

    config: DeviceConfig
    controller: Controller | None = None
    rng: random.Random = field(default_factory=random.Random)
    seq: int = 0
    next_due: float = 0.0
    started: float = 0.0

    def reading(self, now: float) -> dict[str, Any]:
        """The next reading: a sensor's generated values or a controller's current state."""
        if self.controller is not None:
            return dict(self.controller.state)
        generate = GENERATORS[self.config.type]
        return generate(self.rng, now - self.started, self.seq, self.config.options)

    def command(
        self, command: str, _command_id: str, params: dict[str, Any]
    ) -> tuple[bool, dict[str, Any], str]:
        """Carry out a command: (ok, new state, error)."""
        assert self.controller is not None
        try:
            return True, self.controller.apply(command, params), ""
        except CommandError as exc:
            return False, dict(self.controller.state), str(exc)


def make_device(config: DeviceConfig, started: float) -> SimulatedDevice:
    """A device ready to run, seeded from its config (or its id) so runs are repeatable."""
    seed = config.seed if config.seed is not None else config.id
    controller = Controller(config.type) if config.is_controller else None
    return SimulatedDevice(config, controller, random.Random(seed), next_due=started, started=started)


def due(devices: list[SimulatedDevice], now: float) -> list[SimulatedDevice]:
    """The devices whose next reading is due at `now`, each rescheduled by its own period."""
    ready = [d for d in devices if d.config.rate > 0 and d.next_due <= now]
    for device in ready:
        device.next_due = max(device.next_due + 1.0 / device.config.rate, now - 1.0)
    return ready


def seconds_to_next(devices: list[SimulatedDevice], now: float, cap: float = 0.5) -> float:
    """How long to sleep before the next reading falls due (at most `cap`)."""
    upcoming = [d.next_due for d in devices if d.config.rate > 0]
    return max(0.0, min([cap, *(t - now for t in upcoming)]))


class Fleet:
    """Every configured device with its link to the platform."""

    def __init__(self, config: FleetConfig, bus: Bus | None = None, clock: Any = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        now = clock()
        self.devices = [make_device(device, now) for device in config.devices]
        self._bus = bus
        self._buses: dict[str, Bus] = {}
        self.links: dict[str, Link] = {}
        self._commands: list[BusCommands] = []
        self.sent = 0

    def connect(self) -> None:
        """Open a link per device, and one command consumer for the kafka controllers of each bus."""
        handlers: dict[int, tuple[Bus, dict[str, CommandHandler]]] = {}
        for device in self.devices:
            self.links[device.config.id] = self._link(device)
            if device.controller is not None and device.config.transport == "kafka":
                bus = self.bus(device.config)
                handlers.setdefault(id(bus), (bus, {}))[1][device.config.id] = device.command
        self._commands = [BusCommands(bus, by_device) for bus, by_device in handlers.values()]

    def bus(self, device: DeviceConfig) -> Bus:
        """The bus a kafka device uses: the one given, else its own, logged in as device-<id> on Kafka.

        Names on Kafka carry the platform's CANOPY_TOPIC_PREFIX, as the gateway provisioned them.
        """
        if self._bus is not None:
            return self._bus
        settings = load_config()
        url, prefix = self.config.bus_url or settings.bus_url, settings.topic_prefix
        kafka = url.startswith("kafka://")
        name = device.id if kafka else ""  # SQLite has no logins: one bus serves every device
        if name not in self._buses:
            login = Credentials(prefixed(prefix, device_user(device.id)), device.token) if kafka else None
            self._buses[name] = open_bus(url, credentials=login, topic_prefix=prefix)
        return self._buses[name]

    def _link(self, device: SimulatedDevice) -> Link:
        """The device's link for its transport."""
        config = device.config
        if config.transport == "kafka":
            return BusLink(self.bus(config), config.id, config.token)
        if config.transport == "http":
            from simulators.http_link import HttpLink  # requests: for HTTP devices only

            return HttpLink(self.config.api_url or load_config().api_url, config.id, config.token)
        from simulators.mqtt_link import MqttLink  # paho: for MQTT devices only

        parts = urlsplit(self.config.mqtt_url)
        handler = device.command if device.controller is not None else None
        return MqttLink(parts.hostname or "127.0.0.1", parts.port or 1883, config.id, config.token, handler)

    def tick(self) -> float:
        """Send every due reading; return the seconds until the next one is due."""
        now = self.clock()
        at = datetime.now(UTC)
        for device in due(self.devices, now):
            self.links[device.config.id].send(device.reading(now), at, device.seq)
            device.seq += 1
            self.sent += 1
        return seconds_to_next(self.devices, self.clock())

    def run(self, stop: threading.Event, duration: float | None = None) -> None:
        """Send readings until `stop` is set or `duration` seconds have passed."""
        ends = None if duration is None else self.clock() + duration
        while not stop.is_set() and (ends is None or self.clock() < ends):
            pause = self.tick()
            if pause > 0:
                stop.wait(pause)

    def close(self) -> None:
        """Flush and disconnect every link."""
        for commands in self._commands:
            commands.close()
        for link in self.links.values():
            link.close()
        for bus in self._buses.values():
            bus.close()
