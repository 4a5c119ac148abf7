"""How simulated devices reach the platform: the bus here; Mosquitto (mqtt_link), REST (http_link) apart."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from canopy.bus import Bus
from canopy.bus.base import Record
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
    """Delivers kafka controllers' commands from their own command topics, each acked on its ingest topic.

    The controllers of one bus share one consumer: alone, a controller reads in its own group (its Kafka
    login may use no other); together, in a group named after all of them.
    """

    def __init__(self, bus: Bus, handlers: Mapping[str, CommandHandler]) -> None:
        self.bus, self.handlers = bus, dict(handlers)
        command_topics = [topics.device_command_topic(device_id) for device_id in sorted(self.handlers)]
        for topic in command_topics:
            bus.ensure_topic(topic)
        self._consumer = bus.consumer(commands_group(self.handlers), command_topics, from_beginning=False)
        self._stopping = threading.Event()
        name = f"commands-{next(iter(self.handlers))}" if len(self.handlers) == 1 else "commands-controllers"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Consume the controllers' commands until closed."""
        while not self._stopping.is_set():
            record = self._consumer.poll(self._consumer.idle_poll_seconds)
            if record is not None:
                self._deliver(record)

    def _deliver(self, record: Record) -> None:
        """Carry out a live command found on its own device's topic, and acknowledge it."""
        try:
            command = decode(record.value).message
        except DecodeError:
            return
        if (
            isinstance(command, DeviceCommand)
            and command.device_id in self.handlers
            and record.topic == topics.device_command_topic(command.device_id)
            and command.expires_at >= datetime.now(UTC)
        ):
            handler = self.handlers[command.device_id]
            ok, state, error = handler(command.command, command.command_id, command.params)
            ack = CommandAck(
                command_id=command.command_id,
                device_id=command.device_id,
                ok=ok,
                state=state,
                error=error,
                at=datetime.now(UTC),
            )
            self.bus.publish(topics.ingest_topic(command.device_id), encode(ack), key=command.device_id)
            self.bus.flush()

    def close(self) -> None:
        """Stop consuming."""
        self._stopping.set()
        self._consumer.wake()
        self._thread.join(timeout=5)
        self._consumer.close()


def commands_group(device_ids: Iterable[str]) -> str:
    """The consumer group of controllers read together: a lone one's own, else one named by all of them."""
    ids = sorted(device_ids)
    if len(ids) == 1:
        return device_user(ids[0])
    return "simulated-controllers-" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
