"""A simulated device on Mosquitto (the mqtt transport), apart so that only MQTT devices load paho."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from canopy.telemetry.mqtt import telemetry_payload, topic_for
from simulators.transports import CommandHandler

log = logging.getLogger(__name__)

OFFLINE_BUFFER = 10_000


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
