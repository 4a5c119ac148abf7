"""Device accounts on the broker follow the registry: with the broker away, nothing is half-registered."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from canopy import devices
from canopy.roles import Role
from canopy.runtime.backends import Backends
from simulators import TYPES_DIR
from tests.functional.conftest import bearer


@pytest.fixture()
def broker_down(canopy_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CANOPY_MQTT_URL names a port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CANOPY_MQTT_URL", f"mqtt://127.0.0.1:{port}")
    monkeypatch.setenv("CANOPY_MQTT_PASSWORD", "platform-password")


@pytest.mark.usefixtures("broker_down")
def test_with_the_broker_away_mqtt_devices_are_refused_whole_and_others_register(
    client: FlaskClient, backends: Backends, issue_token: Callable[[Role], str]
) -> None:
    admin = bearer(issue_token(Role.PLATFORM_ADMIN))
    with backends.store.session() as session:
        devices.register_type(session, devices.parse_type(json.loads((TYPES_DIR / "TEMP.json").read_text())))
    body = {"id": "m-1", "type": "TEMP", "location": "lab", "transport": "mqtt"}
    refused = client.post("/api/v1/devices", headers=admin, json=body)
    assert refused.status_code == 503 and "MQTT broker" in refused.get_json()["error"]["message"]
    assert client.get("/api/v1/devices/m-1", headers=admin).status_code == 404
    http = client.post("/api/v1/devices", headers=admin, json={**body, "id": "h-1", "transport": "http"})
    assert http.status_code == 201


@pytest.mark.usefixtures("broker_down")
def test_with_the_broker_away_a_rotation_is_undone_and_the_old_credential_still_works(
    client: FlaskClient, backends: Backends, issue_token: Callable[[Role], str]
) -> None:
    admin = bearer(issue_token(Role.PLATFORM_ADMIN))
    with backends.store.session() as session:
        devices.register_type(session, devices.parse_type(json.loads((TYPES_DIR / "TEMP.json").read_text())))
        spec = devices.parse_device({"id": "m-2", "type": "TEMP", "location": "lab", "transport": "mqtt"})
        old = devices.create_device(session, spec).credential
    assert client.post("/api/v1/devices/m-2/credential", headers=admin).status_code == 503
    assert client.delete("/api/v1/devices/m-2", headers=admin).status_code == 503
    reading = {"reading": {"temperature": 21}}
    assert client.post("/api/v1/devices/m-2/telemetry", headers=bearer(old), json=reading).status_code == 202
