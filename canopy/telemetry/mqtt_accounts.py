"""Device accounts on Mosquitto: created, given a new password or removed through its dynamic-security API.

Whoever holds a device's plaintext credential (registration, rotation) puts its account at that
moment; the broker hashes it. Each change is one request on $CONTROL/dynamic-security/v1 made as the
platform account, answered on .../response; a refusal or no answer raises Unavailable, so the store
transaction around it rolls back and nothing is half-registered.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from canopy.config import Config
from canopy.errors import Unavailable
from canopy.telemetry.mqtt import MqttLogin
from canopy.telemetry.mqtt_acl import (
    CONTROL_TOPIC,
    RESPONSE_TOPIC,
    Command,
    put_device_commands,
    remove_device_commands,
    tolerated,
)

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt


class DeviceAccounts(Protocol):
    """Keeps the broker's device accounts in step with the registry."""

    def put(self, device_id: str, credential: str) -> None:
        """Create or replace a device's account with this credential as its password."""

    def remove(self, device_id: str) -> None:
        """Delete a device's account, if it has one."""


class NoAccounts:
    """No MQTT broker is configured: there are no device accounts to keep."""

    def put(self, device_id: str, credential: str) -> None:
        """Nothing to do."""

    def remove(self, device_id: str) -> None:
        """Nothing to do."""


class DynsecAccounts:
    """Device accounts kept by Mosquitto's dynamic-security plugin, changed as the platform account."""

    def __init__(self, login: MqttLogin, timeout: float = 10.0) -> None:
        self.login = login
        self.timeout = timeout

    def put(self, device_id: str, credential: str) -> None:
        """Create or replace a device's account and role (a client logged in with an old one is cut off)."""
        self.run(put_device_commands(device_id, credential), f"set up the MQTT account of {device_id}")

    def remove(self, device_id: str) -> None:
        """Delete a device's account and role; absent ones are fine."""
        self.run(remove_device_commands(device_id), f"remove the MQTT account of {device_id}")

    def run(self, commands: list[Command], what: str) -> None:
        """Send the commands in one request and check every answer; Unavailable on any failure."""
        tagged = [
            {**command, "correlationData": f"{n}-{uuid.uuid4().hex}"} for n, command in enumerate(commands)
        ]
        answers = self._exchange(tagged, what)
        for command in tagged:
            error = answers.get(command["correlationData"], {}).get("error")
            if error and not tolerated(command, str(error)):
                raise Unavailable(f"cannot {what}: the broker refused {command['command']}: {error}")

    def _exchange(self, commands: list[Command], what: str) -> dict[str, dict[str, Any]]:
        """Publish the request and collect the answers by correlation data."""
        pending = {command["correlationData"] for command in commands}
        answers: dict[str, dict[str, Any]] = {}
        ready, done, refused = threading.Event(), threading.Event(), []
        import paho.mqtt.client as mqtt  # only platforms with an MQTT broker load the client
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"canopy-accounts-{uuid.uuid4().hex}")
        client.username_pw_set(self.login.username, self.login.password)

        def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            if reason.is_failure:
                refused.append(str(reason))
                ready.set()
            else:
                c.subscribe(RESPONSE_TOPIC, qos=1)

        def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            try:
                responses = json.loads(message.payload).get("responses", [])
            except (ValueError, AttributeError):
                return
            for response in responses if isinstance(responses, list) else []:
                key = response.get("correlationData") if isinstance(response, dict) else None
                if isinstance(key, str) and key in pending:
                    answers[key] = response
            if pending <= answers.keys():
                done.set()

        client.on_connect, client.on_message = on_connect, on_message
        client.on_subscribe = lambda *_: ready.set()
        try:
            client.connect(self.login.host, self.login.port, keepalive=15)
        except OSError as exc:
            raise Unavailable(
                f"cannot {what}: the MQTT broker at {self.login.address} is down ({exc})"
            ) from exc
        client.loop_start()
        try:
            if ready.wait(self.timeout) and not refused:
                client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
                done.wait(self.timeout)
        finally:
            client.disconnect()
            client.loop_stop()
        if refused:
            raise Unavailable(
                f"cannot {what}: the MQTT broker at {self.login.address} refused the platform account "
                f"({refused[0]}); check CANOPY_MQTT_USERNAME and CANOPY_MQTT_PASSWORD"
            )
        if not pending <= answers.keys():
            raise Unavailable(
                f"cannot {what}: the MQTT broker at {self.login.address} did not answer in time"
            )
        return answers


def put_account(accounts: DeviceAccounts, device_id: str, transport: str, credential: str) -> None:
    """Give a device on the mqtt transport its broker account with this credential (others have none)."""
    if transport == "mqtt":
        accounts.put(device_id, credential)


def remove_account(accounts: DeviceAccounts, device_id: str, transport: str) -> None:
    """Delete the broker account of a device on the mqtt transport (others have none)."""
    if transport == "mqtt":
        accounts.remove(device_id)


def device_accounts(config: Config) -> DeviceAccounts:
    """The device accounts of the configured broker (none when CANOPY_MQTT_URL is empty)."""
    if not config.mqtt_url:
        return NoAccounts()
    return DynsecAccounts(MqttLogin.parse(config.mqtt_url, config.mqtt_username, config.mqtt_password))
