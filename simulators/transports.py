"""How simulated devices reach the platform: the bus (kafka), Mosquitto (mqtt) or the REST API (http)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion

from canopy.bus import Bus
from canopy.bus.kafka_acl import device_user
from canopy.contracts import decode, encode, topics
from canopy.contracts.devices import CommandAck, DeviceCommand, TelemetrySubmission
from canopy.errors import DecodeError
from canopy.telemetry.mqtt import telemetry_payload, topic_for

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, str, dict[str, Any]], tuple[bool, dict[str, Any], str]]
OFFLINE_BUFFER = 10_000


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


class MqttLink:
    """A device on Mosquitto: QoS 1 with a persistent session; buffers up to 10,000 readings offline.

    It logs in as its device id with its credential as the password, under its device id as client id.
    """

    def __init__(
        self, host: str, port: int, device_id: str, token: str, on_command: CommandHandler | None
    ) -> None:
        self.device_id, self.on_command = device_id, on_command
        self.dropped = 0
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False)
        self.client.username_pw_set(device_id, token)
        self.client.max_queued_messages_set(OFFLINE_BUFFER)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.connect_async(host, port, keepalive=15)
        self.client.loop_start()

    def send(self, reading: dict[str, Any], at: datetime, seq: int) -> None:
        """Publish a reading with QoS 1; paho resends it after a reconnect until the broker acknowledges."""
        info = self.client.publish(
            topic_for(self.device_id, "telemetry"), telemetry_payload(reading, at, seq), qos=1
        )
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1

    def pending(self) -> int:
        """Readings published but not yet acknowledged by the broker."""
        return len(self.client._out_messages)

    def close(self) -> None:
        """Disconnect (the broker keeps the session)."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        """Subscribe to commands (controllers) once connected; mark the link ready."""
        if reason.is_failure:
            log.warning("%s: the MQTT broker refused the connection: %s", self.device_id, reason)
            return
        if self.on_command is None:
            self.ready.set()
        else:
            client.subscribe(topic_for(self.device_id, "commands"), qos=1)

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        """Carry out a command and report the new state on the state topic."""
        if self.on_command is None:
            return
        try:
            data = json.loads(message.payload)
            command_id, command, params = (
                str(data["command_id"]),
                str(data.get("command", "")),
                dict(data.get("params") or {}),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("%s: ignoring a malformed command", self.device_id)
            return
        ok, state, error = self.on_command(command, command_id, params)
        report = {"command_id": command_id, "ok": ok, "state": state, "error": error}
        client.publish(topic_for(self.device_id, "state"), json.dumps(report), qos=1)


class HttpLink:
    """A device posting readings to POST /api/v1/devices/<id>/telemetry with its own credential."""

    def __init__(self, api_url: str, device_id: str, token: str) -> None:
        self.url = f"{api_url.rstrip('/')}/api/v1/devices/{device_id}/telemetry"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, reading: dict[str, Any], at: datetime, seq: int) -> None:
        """Post one reading; failures are logged and the reading is dropped."""
        try:
            response = self.session.post(
                self.url, json={"reading": reading, "at": at.isoformat(), "seq": seq}, timeout=10
            )
            if response.status_code >= 400:
                log.warning("%s refused a reading: %s", self.url, response.text[:200])
        except requests.RequestException as exc:
            log.warning("cannot post to %s: %s", self.url, exc)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
