"""How simulated devices reach the platform: the bus here; Mosquitto (mqtt_link), REST (http_link) apart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from canopy.bus import Bus
from canopy.bus.kafka_acl import device_user
from canopy.contracts import decode, encode, topics
from canopy.contracts.devices import CommandAck, DeviceCommand, TelemetrySubmission
from canopy.errors import DecodeError

CommandHandler = Callable[[str, str, dict[str, Any]], tuple[bool, dict[str, Any], str]]


class Link(Protocol):
    """One device's connection to the platform."""

    def send(self, reading: dict[str, Any], at: datetime, seq: int) -> None:
        """Send a reading (or a controller's state report)."""

    def close(self) -> None:
        """Flush and disconnect."""


class BusLink:
    """A device on the kafka transport: TelemetrySubmission onto its own ingest topic, keyed by device id."""

    def __init__(self, bus: Bus, device_id: str, token: str) -> None:
        self.bus, self.device_id, self.token = bus, device_id, token
        self.topic = topics.ingest_topic(device_id)

    def send(self, reading: dict[str, Any], at: datetime, seq: int) -> None:
        """Publish one submission (asynchronously; close() flushes)."""
        message = TelemetrySubmission(device_id=self.device_id, reading=reading, at=at, seq=seq)
        self.bus.publish(self.topic, encode(message), key=self.device_id)

    def close(self) -> None:
        """Flush what is queued."""
        self.bus.flush()


class BusCommands:
    """Delivers one kafka controller's commands from its own command topic and acks on its ingest topic."""

    def __init__(self, bus: Bus, device_id: str, handler: CommandHandler) -> None:
        self.bus, self.device_id, self.handler = bus, device_id, handler
        topic = topics.device_command_topic(device_id)
        bus.ensure_topic(topic)
        self._consumer = bus.consumer(device_user(device_id), [topic], from_beginning=False)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"commands-{device_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Consume this controller's commands until closed."""
        while not self._stopping.is_set():
            record = self._consumer.poll(0.2)
            if record is None:
                continue
            try:
                command = decode(record.value).message
            except DecodeError:
                continue
            if (
                isinstance(command, DeviceCommand)
                and command.device_id == self.device_id
                and command.expires_at >= datetime.now(UTC)
            ):
                ok, state, error = self.handler(command.command, command.command_id, command.params)
                ack = CommandAck(
                    command_id=command.command_id,
                    device_id=command.device_id,
                    ok=ok,
                    state=state,
                    error=error,
                    at=datetime.now(UTC),
                )
                self.bus.publish(topics.ingest_topic(self.device_id), encode(ack), key=self.device_id)
                self.bus.flush()

    def close(self) -> None:
        """Stop consuming."""
        self._stopping.set()
        self._thread.join(timeout=5)
        self._consumer.close()
