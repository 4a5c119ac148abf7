"""Devices attacked from the outside: mosquitto_sub/mosquitto_pub on the broker, raw readers of the bus.

The broker is the one `canopy infra up` started, with the platform account it generated; the
platform (gateway and device manager) registers devices through its REST API like an admin would.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from paho.mqtt.enums import CallbackAPIVersion
from platform_sdk._client import ApiClient

from canopy import devices
from canopy.bus import Bus
from canopy.config import load_config
from canopy.contracts import topics
from canopy.runtime import Component
from canopy.runtime.backends import Backends, open_backends
from canopy.telemetry.mqtt import MqttLogin, topic_for
from services.device_manager.mqtt_bridge import MqttBridge
from services.device_manager.service import Placement, device_manager_components
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.service import bootstrap_admin
from simulators import TYPES_DIR
from tests.conftest import MqttBroker, require

pytestmark = pytest.mark.timeout(240)
ADMIN_PASSWORD = "admin-password-1"
BUS_TOPICS = (
    topics.TELEMETRY_INGEST,
    topics.DEVICE_TELEMETRY,
    topics.DEADLETTER,
    topics.DEVICE_EVENTS,
    topics.DEVICE_COMMANDS,
)


@dataclass
class Site:
    """A gateway (and optionally a device manager) on real Mosquitto, with an admin API client."""

    backends: Backends
    api: ApiClient
    broker: MqttLogin
    run: str
    credentials: dict[str, str] = field(default_factory=dict)

    def register(self, name: str, transport: str = "mqtt", type_name: str = "TEMP") -> str:
        """Register a device through the REST API; return its id (its credential is kept)."""
        device_id = f"{name}-{self.run}"
        body = {"id": device_id, "type": type_name, "location": "sec/lab", "transport": transport}
        self.credentials[device_id] = self.api.post("/api/v1/devices", json=body)["credential"]
        return device_id


def mosquitto(
    tool: str, broker: MqttLogin, *args: str, device: str | None = None, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run mosquitto_sub/mosquitto_pub against the broker, logged in as `device` (client id = device id)."""
    binary = shutil.which(tool)
    require(f"{tool} (Debian mosquitto-clients, installed by `canopy infra up`)", binary is not None)
    login = ["-u", device, "-i", device, "-P", password or ""] if device else []
    argv = [str(binary), "-h", broker.host, "-p", str(broker.port), *login, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


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


@contextmanager
def start_site(
    canopy_home: Path, broker: MqttBroker, monkeypatch: pytest.MonkeyPatch, bus_url: str | None, bridge: bool
) -> Iterator[Site]:
    """A gateway (with a device manager and its bridge when `bridge`) on the given bus."""
    run = uuid.uuid4().hex[:8]
    for key, value in {**broker.settings(), "CANOPY_ADMIN_PASSWORD": ADMIN_PASSWORD}.items():
        monkeypatch.setenv(key, value)
    if bus_url:
        monkeypatch.setenv("CANOPY_BUS_URL", bus_url)
    backends = open_backends(load_config())
    bootstrap_admin(backends)
    with backends.store.session() as session:
        for name in ("TEMP", "FAN"):
            document = json.loads((TYPES_DIR / f"{name}.json").read_text())
            devices.register_type(session, devices.parse_type(document))
    placement = Placement(group=f"sec-dm-{run}", mqtt_client_id=f"sec-dm-{run}", from_beginning=False)
    components: list[Component] = device_manager_components(backends, placement=placement) if bridge else []
    server = HttpServer(create_app(backends), "127.0.0.1", 0)
    components.append(server)
    for component in components:
        component.start()
    try:
        for component in components:
            if isinstance(component, MqttBridge):
                assert component.subscribed.wait(30), "the MQTT bridge did not subscribe"
        token = ApiClient(server.url).post(
            "/api/v1/auth/login", json={"user": "admin", "password": ADMIN_PASSWORD}
        )["token"]
        yield Site(backends, ApiClient(server.url, token), broker.login, run)
    finally:
        for component in reversed(components):
            component.stop()
        backends.close()


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


class BusTail:
    """Raw bytes of the records on the device topics, read bypassing canopy's bus code."""

    def __init__(self, bus_url: str | None, home: Path) -> None:
        self.servers = bus_url.removeprefix("kafka://") if bus_url else ""
        self.home = home
        self.marks = self._ends() if self.servers else {}

    def _consumer(self) -> Consumer:
        """A raw Kafka consumer of its own group."""
        return Consumer({"bootstrap.servers": self.servers, "group.id": f"sec-{uuid.uuid4().hex}"})

    def _ends(self) -> dict[tuple[str, int], int]:
        """The next offset of every partition of the device topics."""
        consumer, ends = self._consumer(), {}
        for topic in BUS_TOPICS:
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                ends[(topic, partition)] = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), 10
                )[1]
        consumer.close()
        return ends

    def values(self) -> list[bytes]:
        """Every record value written since it was made, straight from the SQLite file or the Kafka log."""
        if not self.servers:
            with sqlite3.connect(self.home / "bus.db") as db:
                return [bytes(row[0]) for row in db.execute("SELECT value FROM messages")]
        ends = self._ends()
        left = {key for key, end in ends.items() if end > self.marks.get(key, 0)}
        consumer, values = self._consumer(), []
        consumer.assign([TopicPartition(t, p, self.marks.get((t, p), 0)) for t, p in left])
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            values.append(message.value() or b"")
            key = (str(message.topic()), int(message.partition() or 0))
            if int(message.offset() or 0) + 1 >= ends[key]:
                left.discard(key)
        consumer.close()
        return values


def eventually(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """The first truthy result of `probe`, retried until `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
    return result


def send_old_mqtt(site: Site, device: str, channel: str, payload: dict[str, Any]) -> None:
    """Publish as `device` a payload of the old shape that carried the credential in a "token" field."""
    body = json.dumps({"token": site.credentials[device], **payload})
    done = mosquitto(
        "mosquitto_pub", site.broker, "-q", "1", "-t", topic_for(device, channel), "-m", body,
        device=device, password=site.credentials[device],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def publish_old_submission(bus: Bus, device: str, token: str) -> bytes:
    """What an old kafka-transport device sent, a telemetry-submit with its token, on the ingest topic."""
    at = datetime.now(UTC).isoformat()
    data = {"device_id": device, "token": token, "reading": {"temperature": 1}, "at": at}
    envelope = {"type": "telemetry-submit", "version": 1, "id": uuid.uuid4().hex, "sent_at": at, "data": data}
    raw = json.dumps(envelope).encode()
    bus.publish(topics.TELEMETRY_INGEST, raw, key=device)
    bus.flush()
    return raw


def dead_letters(values: list[bytes], run: str) -> int:
    """How many of the records are dead letters about this run's devices."""
    return sum(b'"type":"deadletter' in v.replace(b" ", b"") and run.encode() in v for v in values)


def readings_and_refusals(site: Site, wrong: str) -> tuple[str, str, bytes]:
    """Send good, refused and old-shaped readings by HTTP, MQTT and the bus.

    Returns the ids of the http and the mqtt sensor and the old-shaped record the test itself wrote.
    """
    posted, sensor, fan = site.register("h", "http"), site.register("m"), site.register("f", type_name="FAN")
    url = f"{site.api.api_url}/api/v1/devices/{posted}/telemetry"
    for token, reading, status in [
        (site.credentials[posted], {"temperature": 21}, 202),
        (wrong, {"temperature": 22}, 401),
        (site.credentials[posted], {"temperature": "hot", "token": site.credentials[posted]}, 400),
    ]:
        answer = requests.post(url, json={"reading": reading}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status and wrong not in answer.text
    send_old_mqtt(site, sensor, "telemetry", {"reading": {"temperature": 23}, "seq": 1})
    send_old_mqtt(site, sensor, "telemetry", {"reading": {"temperature": 999}, "seq": 2})
    send_old_mqtt(site, fan, "state", {"command_id": "c" * 16, "state": {"on": True, "speed": 10}})
    return posted, sensor, publish_old_submission(site.backends.bus, sensor, site.credentials[sensor])


@pytest.mark.parametrize("bus", ["sqlite", "kafka"])
def test_no_credential_reaches_the_bus_a_dead_letter_or_a_log(
    bus: str,
    request: pytest.FixtureRequest,
    canopy_home: Path,
    mqtt_broker: MqttBroker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus_url = request.getfixturevalue("kafka_url") if bus == "kafka" else None
    caplog.set_level(logging.DEBUG)
    with start_site(canopy_home, mqtt_broker, monkeypatch, bus_url, bridge=True) as site:
        tail, wrong = BusTail(bus_url, canopy_home), "cnd_" + secrets.token_urlsafe(32)
        posted, sensor, written = readings_and_refusals(site, wrong)
        for device in (posted, sensor):
            eventually(lambda d=device: site.api.get(f"/api/v1/devices/{d}/latest")["latest"])  # type: ignore[misc]
        eventually(lambda: site.api.get(f"/api/v1/devices/{sensor}/latest")["refused"].get("invalid"))
        values = eventually(lambda: (found := tail.values()) and dead_letters(found, site.run) >= 4 and found)
        values.remove(written)
        sent = [wrong, *site.credentials.values()]
        assert [s for s in sent if any(s.encode() in value for value in values)] == []
        assert [s for s in sent if s in caplog.text] == []
        assert any(b'"temperature":21' in value.replace(b" ", b"") for value in values)
