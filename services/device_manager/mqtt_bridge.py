"""The MQTT bridge: a persistent QoS 1 session on Mosquitto that feeds device telemetry and state acks in."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from canopy.bus import Bus
from canopy.private import write_private_file
from canopy.telemetry.mqtt import (
    STATE_FILTER,
    TELEMETRY_FILTER,
    MqttLogin,
    parse_topic,
    submission_from_payload,
    topic_for,
)

log = logging.getLogger(__name__)

AckHandler = Callable[[str, dict[str, Any]], None]
SubmissionHandler = Callable[[Any], object]


def installation_client_id(home: Path) -> str:
    """The bridge client id of this installation, canopy-bridge-<random>, made once, kept in CANOPY_HOME.

    Stable, so the broker keeps the bridge's persistent session (and queues telemetry) across
    restarts; unique and unguessable, and devices can only log in under their own id, so no other
    client can take the session over.
    """
    path = home / "mqtt-bridge-client-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        client_id = f"canopy-bridge-{uuid.uuid4().hex}"
        write_private_file(path, (client_id + "\n").encode())
        return client_id


class MqttBridge:
    """Subscribes to canopy/devices/+/telemetry and +/state with QoS 1 and a persistent session.

    It logs in with the platform account. Each message is acknowledged to the broker only after what
    it produced is flushed to the bus, so a crash or a broker restart redelivers it instead of losing it.
    """

    name = "mqtt-bridge"

    def __init__(
        self,
        login: MqttLogin,
        bus: Bus,
        on_submission: SubmissionHandler,
        on_state: AckHandler,
        client_id: str,
        ack_interval: float = 0.02,
    ) -> None:
        self.host, self.port = login.host, login.port
        self.bus = bus
        self.on_submission = on_submission
        self.on_state = on_state
        self.ack_interval = ack_interval
        self._pending: list[int] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._acker: threading.Thread | None = None
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self.client.username_pw_set(login.username, login.password)
        self.client.max_inflight_messages_set(1000)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def start(self) -> None:
        """Connect in the background (reconnecting for ever) and start acknowledging."""
        self._stopping.clear()
        self.client.connect_async(self.host, self.port, keepalive=15)
        self.client.loop_start()
        self._acker = threading.Thread(target=self._ack_loop, name="mqtt-acks", daemon=True)
        self._acker.start()

    def stop(self) -> None:
        """Acknowledge what was handled, then disconnect; the broker keeps the session for later."""
        self._stopping.set()
        if self._acker is not None:
            self._acker.join(timeout=5)
        self._ack_handled()
        self.client.disconnect()
        self.client.loop_stop()

    def send_command(self, device_id: str, payload: dict[str, Any]) -> None:
        """Publish a command to canopy/devices/<id>/commands with QoS 1 (queued while disconnected)."""
        self.client.publish(topic_for(device_id, "commands"), json.dumps(payload), qos=1)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        """Subscribe (again) once the broker accepts the connection."""
        if reason.is_failure:
            log.warning("MQTT bridge: %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        log.info("MQTT bridge connected to %s:%d", self.host, self.port)
        with self._lock:
            self._pending.clear()
        client.subscribe([(TELEMETRY_FILTER, 1), (STATE_FILTER, 1)])
        self.connected.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        """Note the lost connection; paho reconnects by itself."""
        self.connected.clear()
        self.subscribed.clear()
        if not self._stopping.is_set():
            log.warning("MQTT bridge lost %s:%d (%s); reconnecting", self.host, self.port, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        """Handle one message; acknowledge it later only if handling succeeded (else it is redelivered)."""
        try:
            self._dispatch(message.topic, bytes(message.payload))
        except Exception:
            log.exception("MQTT bridge: handling a message on %s failed; not acknowledging it", message.topic)
            return
        if message.qos > 0:
            with self._lock:
                self._pending.append(message.mid)

    def _dispatch(self, topic: str, payload: bytes) -> None:
        """Route a message by its topic to the telemetry or the state handler."""
        parsed = parse_topic(topic)
        if parsed is None:
            return
        device_id, channel = parsed
        if channel == "telemetry":
            self.on_submission(submission_from_payload(device_id, payload))
        else:
            try:
                data = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError):
                data = {}
            self.on_state(device_id, data if isinstance(data, dict) else {})

    def _ack_loop(self) -> None:
        """Acknowledge handled messages every ack_interval until stopped."""
        while not self._stopping.wait(self.ack_interval):
            try:
                self._ack_handled()
            except Exception:
                log.exception("MQTT bridge: acknowledging failed; the broker will redeliver")

    def _ack_handled(self) -> None:
        """Flush the bus, then acknowledge every message handled before the flush."""
        with self._lock:
            mids, self._pending = self._pending, []
        if not mids:
            return
        try:
            self.bus.flush()
        except Exception:
            with self._lock:
                self._pending[:0] = mids
            raise
        for mid in mids:
            self.client.ack(mid, 1)
