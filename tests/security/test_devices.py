"""Devices attacked on the broker from the outside, with mosquitto_sub and mosquitto_pub.

The broker is the one `canopy infra up` started, with the platform account it generated; the
platform (gateway) registers devices through its REST API like an admin would.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from canopy.telemetry.mqtt import MqttLogin, topic_for
from tests.conftest import MqttBroker
from tests.security.device_site import Site, mosquitto, start_site

pytestmark = pytest.mark.timeout(240)


def can_publish(site: Site, device: str, password: str) -> bool:
    """Whether the broker lets `device` log in with `password` and publish a QoS 1 reading."""
    reading = json.dumps({"reading": {"temperature": 21}})
    done = mosquitto(
        "mosquitto_pub", site.broker, "-q", "1", "-t", topic_for(device, "telemetry"), "-m", reading,
        device=device, password=password,
    )  # fmt: skip
    return done.returncode == 0


def grants(site: Site, device: str, filters: list[str]) -> list[int]:
    """The SUBACK codes the broker gives `device` for one SUBSCRIBE with these filters (128: refused)."""
    args = [arg for topic in filters for arg in ("-t", topic)]
    done = mosquitto(
        "mosquitto_sub", site.broker, *args, "-d", "-W", "2", "-C", "1",
        device=device, password=site.credentials[device],
    )  # fmt: skip
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("Subscribed (mid: 1):")), "")
    assert line, f"no SUBACK: {done.stdout} {done.stderr}"
    return [int(code) for code in line.rsplit(":", 1)[1].split(",")]


class Listener:
    """An MQTT client that collects what it receives on the filters it subscribes to."""

    def __init__(self, broker: MqttLogin, username: str, password: str, filters: list[str], client_id: str):
        self.received: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(username, password)
        self.client.on_connect = lambda c, *_: c.subscribe([(f, 1) for f in filters])
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(15), "the listener did not subscribe"

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture()
def site(canopy_home: Path, mqtt_broker: MqttBroker, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A gateway on the embedded bus and the real broker."""
    with start_site(canopy_home, mqtt_broker, monkeypatch, None, bridge=False) as started:
        yield started


def test_an_anonymous_client_can_neither_connect_nor_publish(site: Site) -> None:
    sub = mosquitto("mosquitto_sub", site.broker, "-t", "canopy/devices/#", "-C", "1", "-W", "3")
    assert sub.returncode != 0 and "not authori" in sub.stderr.lower()
    pub = mosquitto("mosquitto_pub", site.broker, "-t", topic_for("any", "commands"), "-m", "{}", "-q", "1")
    assert pub.returncode != 0 and "not authori" in pub.stderr.lower()


def test_wrong_rotated_out_and_deleted_credentials_are_refused(site: Site) -> None:
    device = site.register("pw")
    first = site.credentials[device]
    assert can_publish(site, device, first)
    assert not can_publish(site, device, "cnd_" + secrets.token_urlsafe(32))
    assert not can_publish(site, device, first[:-1])
    second = site.api.post(f"/api/v1/devices/{device}/credential")["credential"]
    assert not can_publish(site, device, first)
    assert can_publish(site, device, second)
    site.api.delete(f"/api/v1/devices/{device}")
    assert not can_publish(site, device, second)


def test_a_device_cannot_log_in_under_another_devices_client_id(site: Site) -> None:
    mine, theirs = site.register("me"), site.register("them")
    done = mosquitto(
        "mosquitto_pub", site.broker, "-u", mine, "-P", site.credentials[mine], "-i", theirs,
        "-t", topic_for(mine, "telemetry"), "-m", "{}",
    )  # fmt: skip
    assert done.returncode != 0 and "not authori" in done.stderr.lower()


def test_a_device_subscribes_only_to_its_own_command_topic(site: Site) -> None:
    mine, theirs = site.register("sub-a"), site.register("sub-b")
    refused = [
        "#",
        "canopy/devices/#",
        "canopy/devices/+/commands",
        "canopy/devices/+/telemetry",
        topic_for(theirs, "commands"),
        topic_for(theirs, "telemetry"),
        topic_for(mine, "telemetry"),
        "$CONTROL/dynamic-security/#",
    ]
    assert grants(site, mine, [*refused, topic_for(mine, "commands")]) == [128] * len(refused) + [0]


def test_a_device_cannot_publish_another_devices_telemetry_state_or_commands(site: Site) -> None:
    mine, theirs = site.register("pub-a"), site.register("pub-b", type_name="FAN")
    platform = Listener(
        site.broker,
        site.broker.username,
        site.broker.password,
        ["canopy/devices/+/telemetry", "canopy/devices/+/state"],
        f"sec-watch-{site.run}",
    )
    victim = Listener(site.broker, theirs, site.credentials[theirs], [topic_for(theirs, "commands")], theirs)
    try:
        forged = json.dumps({"command_id": "f" * 16, "command": "set", "params": {"on": True}})
        for channel in ("telemetry", "state", "commands"):
            mosquitto(
                "mosquitto_pub", site.broker, "-q", "1", "-t", topic_for(theirs, channel), "-m", forged,
                device=mine, password=site.credentials[mine],
            )  # fmt: skip
        assert can_publish(site, mine, site.credentials[mine])
        deadline = time.monotonic() + 10
        while not platform.received and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        assert [topic for topic, _ in platform.received] == [topic_for(mine, "telemetry")]
        assert victim.received == []
    finally:
        platform.close()
        victim.close()
