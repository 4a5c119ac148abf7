"""Telemetry on real Kafka and Mosquitto: every route into a device's stream, commands, refusals, restarts."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from platform_sdk import get_sensor_data, send_controller_data, stream_sensor
from platform_sdk._client import ApiClient
from prometheus_client import REGISTRY

from bootstrap.infra import down, up
from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy import devices
from canopy.bus import Bus, Credentials, open_bus
from canopy.bus.kafka_acl import device_user
from canopy.bus.naming import prefixed
from canopy.config import load_config
from canopy.contracts import DeadLetter, decode, topics
from canopy.contracts.devices import TelemetryReading
from canopy.errors import NotFound, ValidationFailed
from canopy.runtime import Component
from canopy.runtime.backends import Backends, open_backends
from canopy.telemetry.device_logins import grant_login
from canopy.telemetry.mqtt import MqttLogin
from canopy.telemetry.mqtt_accounts import device_accounts
from services.device_manager.mqtt_bridge import MqttBridge
from services.device_manager.service import Placement, device_manager_components
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.service import bootstrap_admin
from simulators import TYPES_DIR
from simulators.mqtt_link import MqttLink
from simulators.transports import BusLink
from tests.conftest import MqttBroker, kafka_environment, port_open, require

pytestmark = pytest.mark.timeout(240)
REAL_HOME = Path(os.environ.get("CANOPY_HOME") or "~/.canopy").expanduser()
T = TypeVar("T")


@dataclass
class Platform:
    """A device manager and a gateway on real Kafka and Mosquitto, with registered test devices."""

    backends: Backends
    api: ApiClient
    run: str
    credentials: dict[str, str]
    bridge: MqttBridge
    broker: MqttLogin

    def device(self, name: str) -> str:
        """The id of one of this run's devices."""
        return f"{name}-{self.run}"

    def token(self, name: str) -> str:
        """The credential of one of this run's devices."""
        return self.credentials[self.device(name)]

    def refused(self, name: str) -> dict[str, int]:
        """The refusal counters the API shows for a device."""
        counts: dict[str, int] = self.api.get(f"/api/v1/devices/{self.device(name)}/latest")["refused"]
        return counts


def eventually(probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.2) -> T:
    """The first truthy result of `probe`, retried until `timeout` (NotFound counts as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except NotFound:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


def on_real_broker(action: Callable[[list[str]], None]) -> None:
    """Run `canopy infra` up or down for Mosquitto under the real CANOPY_HOME, where it was started."""
    test_home = os.environ["CANOPY_HOME"]
    os.environ["CANOPY_HOME"] = str(REAL_HOME)
    try:
        action(["mosquitto"])
    finally:
        os.environ["CANOPY_HOME"] = test_home


def register(backends: Backends, run: str) -> dict[str, str]:
    """Register TEMP and FAN and this run's devices (with broker accounts); return their credentials."""
    plan = {"mt": ("TEMP", "mqtt"), "kt": ("TEMP", "kafka"), "ht": ("TEMP", "http"), "fan": ("FAN", "mqtt")}
    credentials = {}
    with backends.store.session() as session:
        for name in ("TEMP", "FAN"):
            devices.register_type(
                session, devices.parse_type(json.loads((TYPES_DIR / f"{name}.json").read_text()))
            )
        for short, (type_name, transport) in plan.items():
            spec = devices.parse_device(
                {"id": f"{short}-{run}", "type": type_name, "location": "test/lab", "transport": transport}
            )
            credentials[f"{short}-{run}"] = devices.create_device(session, spec).credential
            grant_login(
                backends.config,
                device_accounts(backends.config),
                f"{short}-{run}",
                transport,
                credentials[f"{short}-{run}"],
            )
    return credentials


@pytest.fixture()
def platform(
    canopy_home: Path,
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    mqtt_broker: MqttBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Platform]:
    run = uuid.uuid4().hex[:8]
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    for key, value in mqtt_broker.settings().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", "admin-password-1")
    backends = open_backends(load_config())
    bootstrap_admin(backends)
    credentials = register(backends, run)
    placement = Placement(group=f"test-dm-{run}", mqtt_client_id=f"test-dm-{run}", from_beginning=False)
    components: list[Component] = device_manager_components(backends, placement=placement)
    server = HttpServer(create_app(backends), "127.0.0.1", 0)
    components.append(server)
    for component in components:
        component.start()
    bridge = next(c for c in components if isinstance(c, MqttBridge))
    try:
        login = ApiClient(server.url).post(
            "/api/v1/auth/login", json={"user": "admin", "password": "admin-password-1"}
        )
        assert bridge.subscribed.wait(30), "the MQTT bridge did not subscribe"
        api = ApiClient(server.url, login["token"])
        yield Platform(backends, api, run, credentials, bridge, mqtt_broker.login)
    finally:
        for component in reversed(components):
            component.stop()
        backends.close()
        mqtt_broker.clean_up([f"test-dm-{run}", *credentials], credentials)


def stream_in_background(platform: Platform, name: str, count: int) -> tuple[threading.Thread, list[Any]]:
    """Collect `count` readings of a device from the SDK's stream on a thread."""
    received: list[Any] = []

    def collect() -> None:
        received.extend(stream_sensor(platform.device(name), platform.api, limit=count, timeout=90))

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    return thread, received


@contextmanager
def sender(platform: Platform, name: str, transport: str) -> Iterator[Callable[[dict[str, Any], int], None]]:
    """A function that sends one reading as device `name` over `transport`; its connection closes after."""
    device, token = platform.device(name), platform.token(name)
    if transport == "mqtt":
        link = MqttLink(platform.broker.host, platform.broker.port, device, token, None)
        try:
            assert link.ready.wait(30)
            yield lambda reading, seq: link.send(reading, datetime.now(UTC), seq)
        finally:
            link.close()
    elif transport == "kafka":
        prefix = platform.backends.config.topic_prefix
        login = Credentials(prefixed(prefix, device_user(device)), token)
        own_bus = open_bus(platform.backends.bus.url, credentials=login, topic_prefix=prefix)
        bus_link = BusLink(own_bus, device, token)

        def send_bus(reading: dict[str, Any], seq: int) -> None:
            bus_link.send(reading, datetime.now(UTC), seq)
            own_bus.flush()

        try:
            yield send_bus
        finally:
            own_bus.close()
    else:
        url = f"{platform.api.api_url}/api/v1/devices/{device}/telemetry"
        yield lambda reading, seq: requests.post(
            url,
            json={"reading": reading, "seq": seq},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).raise_for_status()


@pytest.mark.parametrize(("name", "transport"), [("mt", "mqtt"), ("kt", "kafka"), ("ht", "http")])
def test_a_device_reading_reaches_an_sdk_consumer(platform: Platform, name: str, transport: str) -> None:
    thread, received = stream_in_background(platform, name, 3)
    with sender(platform, name, transport) as send:
        seq = 0
        while thread.is_alive() and seq < 400:
            send({"temperature": 20.0 + seq % 10}, seq)
            seq += 1
            thread.join(0.25)
    assert len(received) == 3 and all(set(r) == {"temperature"} for r in received)
    latest = eventually(lambda: get_sensor_data(platform.device(name), platform.api))
    assert 20.0 <= latest["temperature"] < 30.0
    view = platform.api.get(f"/api/v1/devices/{platform.device(name)}/latest")
    assert view["status"] == "online" and view["latest"]["source"] == transport


def test_a_controller_receives_a_command_over_mqtt_and_acknowledges_it(platform: Platform) -> None:
    from simulators.controllers import Controller

    fan = Controller("FAN")
    link = MqttLink(
        platform.broker.host,
        platform.broker.port,
        platform.device("fan"),
        platform.token("fan"),
        lambda c, _i, p: (True, fan.apply(c, p), ""),
    )
    try:
        assert link.ready.wait(30)
        assert send_controller_data(platform.device("fan"), client=platform.api, timeout=15, on=True) == {
            "on": True,
            "speed": 50,
        }
        assert fan.state == {"on": True, "speed": 50}
        with pytest.raises(ValidationFailed, match="speed"):
            send_controller_data(platform.device("fan"), client=platform.api, speed=300)
        latest = eventually(lambda: get_sensor_data(platform.device("fan"), platform.api))
        assert latest == {"on": True, "speed": 50}
    finally:
        link.close()


def dead_letters(bus: Bus, run: str) -> tuple[Callable[[], list[DeadLetter]], Callable[[], None]]:
    """A collector of the dead letters published from now on, and a function that closes it."""
    consumer = bus.consumer(f"test-dl-{run}", [topics.DEADLETTER], from_beginning=False)
    seen: list[DeadLetter] = []

    def collect() -> list[DeadLetter]:
        while (record := consumer.poll(0.2)) is not None:
            message = decode(record.value).message
            if isinstance(message, DeadLetter) and run in (message.key or ""):
                seen.append(message)
        return seen

    return collect, consumer.close


def test_invalid_readings_unknown_devices_and_wrong_tokens_are_refused_and_counted(
    platform: Platform,
) -> None:
    bus = platform.backends.bus
    bus.ensure_topic(topics.DEADLETTER)
    collect, close = dead_letters(bus, platform.run)
    try:
        url = f"{platform.api.api_url}/api/v1/devices"
        good = {"Authorization": f"Bearer {platform.token('ht')}"}
        assert (
            requests.post(
                f"{url}/{platform.device('ht')}/telemetry",
                json={"reading": {"temperature": "hot"}},
                headers=good,
            ).status_code
            == 400
        )
        assert (
            requests.post(
                f"{url}/{platform.device('ht')}/telemetry",
                json={"reading": {"temperature": 1}},
                headers={"Authorization": "Bearer nope"},
            ).status_code
            == 401
        )
        assert (
            requests.post(
                f"{url}/ghost-{platform.run}/telemetry", json={"reading": {"temperature": 1}}, headers=good
            ).status_code
            == 404
        )
        link = MqttLink(
            platform.broker.host, platform.broker.port, platform.device("mt"), platform.token("mt"), None
        )
        assert link.ready.wait(30)
        link.send({"temperature": 999}, datetime.now(UTC), 1)
        link.close()
        eventually(lambda: platform.refused("mt") == {"invalid": 1})
        assert platform.refused("ht") == {"invalid": 1, "bad_credential": 1}
        unknown = platform.api.get("/api/v1/telemetry/refusals")["refusals"]
        assert any(r["device_id"] == "(unknown)" and r["count"] >= 1 for r in unknown)
        letters = eventually(lambda: len(collect()) >= 4 and collect())
        reasons = sorted(letter.reason.split(":")[0] for letter in letters)
        assert reasons == ["bad_credential", "invalid", "invalid", "unknown_device"]
        sample = {"kind": "invalid", "device": platform.device("mt"), "source": "mqtt"}
        assert REGISTRY.get_sample_value("canopy_telemetry_refused_total", sample) == 1.0
    finally:
        close()


def test_a_mosquitto_restart_mid_stream_loses_no_qos1_reading(platform: Platform) -> None:
    bus = platform.backends.bus
    consumer = bus.consumer(f"test-restart-{platform.run}", [topics.DEVICE_TELEMETRY], from_beginning=False)
    device = platform.device("mt")
    link = MqttLink(platform.broker.host, platform.broker.port, device, platform.token("mt"), None)
    total, seen = 600, set()
    try:
        assert link.ready.wait(30)
        for seq in range(total):
            if seq == 200:
                on_real_broker(down)
                require(
                    "A Mosquitto broker started by canopy (so it can be restarted)",
                    not port_open(platform.broker.host, platform.broker.port),
                )
            if seq == 400:
                on_real_broker(up)
            link.send({"temperature": 21.0}, datetime.now(UTC), seq)
            time.sleep(0.01)
        deadline = time.monotonic() + 120
        while len(seen) < total and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is not None and record.key == device:
                message = decode(record.value).message
                assert isinstance(message, TelemetryReading)
                seen.add(message.seq)
        assert sorted(set(range(total)) - seen) == []
        assert link.dropped == 0
    finally:
        on_real_broker(up)
        link.close()
        consumer.close()
