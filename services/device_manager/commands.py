"""Deliver controller commands by each controller's transport and turn acknowledgements into records."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from canopy.bus import Bus, Record
from canopy.bus.typed import publish
from canopy.contracts import Envelope, topics
from canopy.contracts.devices import CommandAck, DeviceCommand, TelemetryReading
from canopy.eventsummary import SummarizedLog
from canopy.store import Store
from canopy.telemetry.directory import DeviceDirectory
from canopy.telemetry.metrics import UNKNOWN
from canopy.telemetry.storage import LatestWriter, record_ack

log = logging.getLogger(__name__)
STATE_LOG = SummarizedLog(log, logging.WARNING)  # one line per device and reason every 10 s


class CommandSender(Protocol):
    """Something that can deliver a command payload to an MQTT device."""

    def send_command(self, device_id: str, payload: dict[str, Any]) -> None:
        """Deliver `payload` to the device."""


class CommandRouter:
    """Bus handler for DeviceCommand: MQTT controllers get it on canopy/devices/<id>/commands.

    Controllers on the kafka transport get it on their own topic canopy.commands.<id> (only they may
    read it); HTTP controllers cannot receive commands, so those are answered at once with a failed
    acknowledgement.
    """

    def __init__(self, bus: Bus, directory: DeviceDirectory, sender: CommandSender | None) -> None:
        self.bus = bus
        self.directory = directory
        self.sender = sender

    def __call__(self, envelope: Envelope, _record: Record) -> None:
        """Route one command."""
        command = envelope.message
        if not isinstance(command, DeviceCommand):
            return
        record = self.directory.find(command.device_id)
        if record is None:
            return
        if command.expires_at < datetime.now(UTC):
            self._fail(command, "the command expired before it could be delivered")
        elif record.transport == "mqtt" and self.sender is not None:
            self.sender.send_command(
                command.device_id,
                {
                    "command_id": command.command_id,
                    "command": command.command,
                    "params": command.params,
                    "expires_at": command.expires_at.isoformat(),
                },
            )
        elif record.transport == "kafka":
            publish(
                self.bus, command, key=command.device_id, topic=topics.device_command_topic(command.device_id)
            )
        elif record.transport == "mqtt":
            self._fail(command, "the MQTT bridge is not configured (set CANOPY_MQTT_URL)")
        else:
            self._fail(command, f"{record.transport} controllers cannot receive commands; use mqtt or kafka")

    def _fail(self, command: DeviceCommand, error: str) -> None:
        """Answer a command that cannot be delivered with a failed acknowledgement."""
        ack = CommandAck(
            command_id=command.command_id,
            device_id=command.device_id,
            ok=False,
            state={},
            error=error,
            at=datetime.now(UTC),
        )
        publish(self.bus, ack, key=command.device_id)


class StateFromMqtt:
    """Turns a state report on canopy/devices/<id>/state into a CommandAck on the bus.

    The broker authenticated the device and its ACL lets it publish only on its own state topic, so
    the topic names the device; a credential field in the report (older devices) is never forwarded.
    """

    def __init__(self, bus: Bus, directory: DeviceDirectory) -> None:
        self.bus = bus
        self.directory = directory

    def __call__(self, device_id: str, data: dict[str, Any]) -> None:
        """Publish the acknowledgement of a registered device's well-formed report."""
        state, command_id = data.get("state"), data.get("command_id")
        if self.directory.find(device_id) is None:
            STATE_LOG.event((UNKNOWN, "unknown"), f"MQTT state report of {device_id} refused: no such device")
            return
        if not isinstance(state, dict) or not isinstance(command_id, str):
            STATE_LOG.event(
                (device_id, "malformed"),
                f"MQTT state report of {device_id} refused: it needs a command_id and a state",
            )
            return
        ack = CommandAck(
            command_id=command_id,
            device_id=device_id,
            ok=bool(data.get("ok", True)),
            state=state,
            error=str(data.get("error") or ""),
            at=datetime.now(UTC),
        )
        publish(self.bus, ack, key=device_id)


class AckRecorder:
    """Bus handler for CommandAck: completes the command record and keeps the state as latest value."""

    def __init__(self, store: Store, directory: DeviceDirectory, writer: LatestWriter) -> None:
        self.store = store
        self.directory = directory
        self.writer = writer

    def __call__(self, envelope: Envelope, _record: Record) -> None:
        """Record one acknowledgement."""
        ack = envelope.message
        if not isinstance(ack, CommandAck):
            return
        with self.store.session() as session:
            record_ack(session, ack.command_id, ack.ok, ack.state, ack.error, ack.at)
        device = self.directory.find(ack.device_id)
        if ack.ok and ack.state and device is not None:
            self.writer.keep(
                TelemetryReading(
                    device_id=ack.device_id,
                    device_type=device.device_type,
                    reading=ack.state,
                    at=ack.at,
                    received_at=datetime.now(UTC),
                    source=device.transport,
                )
            )
