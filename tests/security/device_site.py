"""A platform for the device attacks: a gateway (and device manager) on the broker of `canopy infra up`."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from platform_sdk._client import ApiClient

from canopy import devices
from canopy.config import load_config
from canopy.runtime import Component
from canopy.runtime.backends import Backends, open_backends
from canopy.telemetry.mqtt import MqttLogin
from services.device_manager.mqtt_bridge import MqttBridge
from services.device_manager.service import Placement, device_manager_components
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.gateway.service import bootstrap_admin
from simulators import TYPES_DIR
from tests.conftest import MqttBroker, require

ADMIN_PASSWORD = "admin-password-1"


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
        site = Site(backends, ApiClient(server.url, token), broker.login, run)
        if bridge:
            wait_until_readings_flow(site)
        yield site
    finally:
        for component in reversed(components):
            component.stop()
        backends.close()
    broker.clean_up([f"sec-dm-{run}", *site.credentials], site.credentials)


def eventually(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """The first truthy result of `probe`, retried until `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
    return result


def wait_until_readings_flow(site: Site) -> None:
    """Post readings of a warm-up device until one shows, so the device manager's group has joined."""
    device = site.register("warm", "http")
    headers = {"Authorization": f"Bearer {site.credentials[device]}"}
    url = f"{site.api.api_url}/api/v1/devices/{device}/telemetry"

    def shown() -> Any:
        requests.post(url, json={"reading": {"temperature": 20}}, headers=headers, timeout=10)
        time.sleep(1)
        return site.api.get(f"/api/v1/devices/{device}/latest")["latest"]

    eventually(shown, timeout=90)
