"""The legacy-weather acceptance flow, shared by its functional (process) and e2e (docker) tests.

The original platform's app format, unchanged: the weather model deployed, TEMP and PRESSURE
readings posted over HTTP with the devices' credentials, a simulated DISPLAY acknowledging commands
on the bus, and examples/apps/legacy-weather uploaded, bound at a location and started.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import requests
from platform_sdk._client import ApiClient

from canopy.bus import Credentials, open_bus
from canopy.bus.kafka_acl import device_user
from canopy.bus.naming import prefixed
from canopy.runtime.backends import Backends
from simulators import TYPES_DIR
from simulators.controllers import Controller
from simulators.http_link import HttpLink
from simulators.transports import BusCommands
from tests.app_run_helpers import settled
from tests.deploy_helpers import REPO, deploy, wait_for, zip_package

WEATHER_APP = REPO / "examples" / "apps" / "legacy-weather"
WEATHER_MODEL = REPO / "examples" / "models" / "legacy-weather" / "package"
WEATHER_CLASSES = {"drizzle", "fog", "rain", "snow", "sun"}
STATION = {"TEMP": "http", "PRESSURE": "http", "DISPLAY": "kafka"}  # type -> transport
READINGS_PER_SECOND = 4
FERRETDB_UP = "database of %s up (%s handler) in %.2f s"


@dataclass
class Station:
    """The weather station's devices at one location: ids and credentials by type."""

    location: str
    devices: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens: a platform_admin (uploads and devices), the instance's owner, another user."""

    admin: str
    owner: str
    other: str


@dataclass(frozen=True)
class Figures:
    """What the flow measured."""

    instance_id: str
    model_id: str
    first_command_seconds: float
    ferretdb_start_seconds: float
    counts: dict[str, int]


def register_station(admin: ApiClient, location: str, run: str) -> Station:
    """Register the TEMP, PRESSURE and DISPLAY types and one device of each at `location`."""
    station = Station(location)
    for type_name, transport in STATION.items():
        admin.post("/api/v1/device-types", json=json.loads((TYPES_DIR / f"{type_name}.json").read_text()))
        body = {"id": f"{type_name.lower()}-{run}", "type": type_name, "location": location}
        created = admin.post("/api/v1/devices", json={**body, "transport": transport})
        station.devices[type_name], station.credentials[type_name] = created["id"], created["credential"]
    return station


@contextmanager
def feeding(api_url: str, station: Station) -> Iterator[None]:
    """Post TEMP and PRESSURE readings a few times a second, in a thread, while the block runs."""
    links = {name: HttpLink(api_url, station.devices[name], station.credentials[name]) for name in STATION}
    stop = threading.Event()

    def feed() -> None:
        """Post one TEMP and one PRESSURE reading per tick until stopped."""
        seq = 0
        while not stop.is_set():
            seq, now = seq + 1, datetime.now(UTC)
            links["TEMP"].send({"temperature": 8.0 + seq % 5}, now, seq)
            links["PRESSURE"].send({"pressure": 1003.0 + seq % 3}, now, seq)
            stop.wait(1 / READINGS_PER_SECOND)

    thread = threading.Thread(target=feed, name="weather-feed", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        for name in ("TEMP", "PRESSURE"):
            links[name].close()


@contextmanager
def display(backends: Backends, station: Station) -> Iterator[Controller]:
    """The DISPLAY, simulated: it takes its commands from the bus with its own login and acknowledges."""
    device, credential = station.devices["DISPLAY"], station.credentials["DISPLAY"]
    screen = Controller("DISPLAY")
    prefix = backends.config.topic_prefix
    login = Credentials(prefixed(prefix, device_user(device)), credential)
    bus = open_bus(backends.bus.url, credentials=login, topic_prefix=prefix)
    link = BusCommands(bus, {device: lambda command, _id, params: (True, screen.apply(command, params), "")})
    try:
        yield screen
    finally:
        link.close()
        bus.close()


def ferretdb_start_seconds(caplog: pytest.LogCaptureFixture, instance_id: str) -> float:
    """The start time of the instance's FerretDB, as the node agent logged it."""
    for record in caplog.records:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == FERRETDB_UP and args and args[0] == instance_id:
            return float(str(args[2]))
    raise AssertionError(f"the agent logged no database start for {instance_id}")


def run_weather_station(
    api_url: str,
    tokens: Tokens,
    backends: Backends,
    run: str,
    caplog: pytest.LogCaptureFixture,
    workloads: list[str] | None = None,
) -> Figures:
    """The whole acceptance flow, up to a running instance whose counters grow; its figures.

    The ids of the model and instance it deploys are appended to `workloads` as soon as they exist.
    """
    workloads = [] if workloads is None else workloads
    caplog.set_level(logging.INFO, logger="canopy.apps.database")
    admin, owner = ApiClient(api_url, tokens.admin), ApiClient(api_url, tokens.owner)
    model_id, model = deploy(admin, zip_package(WEATHER_MODEL), timeout=900)
    workloads.append(model_id)
    assert model["status"] == "ready", model
    station = register_station(admin, f"weather/{run}/roof", run)
    with feeding(api_url, station), display(backends, station) as screen:
        package = zip_package(WEATHER_APP)
        app = admin.post("/api/v1/apps", files={"file": ("legacy-weather.zip", package)})
        assert app["format"] == "legacy" and app["database"] is True, app
        where = {"location": station.location}
        instance_id = owner.post(f"/api/v1/apps/{app['id']}/instances", json=where)["id"]
        workloads.append(instance_id)
        started = time.monotonic()
        generation = owner.post(f"/api/v1/app-instances/{instance_id}/start")["generation"]
        view = settled(api_url, tokens.owner, instance_id, generation, timeout=900)
        assert view["status"] == "ready", view
        assert _counters(api_url, tokens.owner, instance_id) is not None  # its page reads its database
        shown = wait_for(lambda: screen.state["text"], 120, "the first command on the DISPLAY", interval=0.05)
        first_command = time.monotonic() - started
        assert shown.lower() in WEATHER_CLASSES, shown
        latest_url = f"/api/v1/devices/{station.devices['DISPLAY']}/latest"
        latest = wait_for(lambda: admin.get(latest_url)["latest"], 30, "the DISPLAY's state in the store")
        assert latest["reading"]["text"].lower() in WEATHER_CLASSES, latest
        counts = _growing_counters(api_url, tokens, instance_id)
        page = requests.get(
            f"{api_url}/apps/{instance_id}/show_details", headers=_bearer(tokens.owner), timeout=10
        )
        assert page.status_code == 200 and "Weather Station" in page.text, page.text
        for path in ("app/stats", "show_details"):
            refused = requests.get(
                f"{api_url}/apps/{instance_id}/{path}", headers=_bearer(tokens.other), timeout=10
            )
            assert refused.status_code == 403, refused.text
    return Figures(instance_id, model_id, first_command, ferretdb_start_seconds(caplog, instance_id), counts)


def _bearer(token: str) -> dict[str, str]:
    """An Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def _counters(api_url: str, token: str, instance_id: str) -> dict[str, int]:
    """The app's per-class counters, read from its database through its page (via the gateway)."""
    reply = requests.get(f"{api_url}/apps/{instance_id}/app/stats", headers=_bearer(token), timeout=10)
    assert reply.status_code == 200, reply.text
    counts: dict[str, int] = reply.json()
    assert {name.lower() for name in counts} <= WEATHER_CLASSES, counts
    return counts


def _growing_counters(api_url: str, tokens: Tokens, instance_id: str) -> dict[str, int]:
    """The counters once they have grown past a first non-empty reading."""
    first = wait_for(lambda: _counters(api_url, tokens.owner, instance_id), 60, "a first counter")

    def grown() -> dict[str, int] | None:
        """The counters if their total is above the first reading's."""
        now = _counters(api_url, tokens.owner, instance_id)
        return now if sum(now.values()) > sum(first.values()) else None

    counts: dict[str, int] = wait_for(grown, 60, "the counters to grow", interval=0.5)
    return counts


def stop_then_remove(api_url: str, tokens: Tokens, instance_id: str) -> None:
    """Removing a running instance is refused; once stopped it is removed (and 404 afterwards)."""
    url, owner = f"{api_url}/api/v1/app-instances/{instance_id}", _bearer(tokens.owner)
    running = requests.delete(url, headers=owner, timeout=10)
    assert running.status_code == 409 and "stop it first" in running.text, running.text
    stop = requests.post(f"{url}/stop", headers=owner, timeout=10)
    assert stop.status_code == 202, stop.text
    assert settled(api_url, tokens.owner, instance_id, stop.json()["generation"], 120)["status"] == "stopped"
    assert requests.delete(url, headers=owner, timeout=10).status_code == 204
    assert requests.get(url, headers=owner, timeout=10).status_code == 404
