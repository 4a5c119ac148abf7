"""The telemetry API on the embedded backends: posting, latest values, streams, commands and refusals."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy import devices
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.device_manager.service import device_manager_components
from simulators import TYPES_DIR
from tests.functional.conftest import bearer


@pytest.fixture()
def fleet(backends: Backends) -> Iterator[dict[str, str]]:
    """TEMP and FAN registered, three devices, and the device manager running."""
    credentials = {}
    with backends.store.session() as session:
        for name in ("TEMP", "FAN"):
            spec = devices.parse_type(json.loads((TYPES_DIR / f"{name}.json").read_text()))
            devices.register_type(session, spec)
        for device_id, type_name, transport in (
            ("t1", "TEMP", "http"),
            ("f1", "FAN", "kafka"),
            ("f2", "FAN", "http"),
        ):
            spec = devices.parse_device(
                {"id": device_id, "type": type_name, "location": "hyd/lab", "transport": transport}
            )
            credentials[device_id] = devices.create_device(session, spec).credential
    components = device_manager_components(backends)
    for component in components:
        component.start()
    yield credentials
    for component in reversed(components):
        component.stop()


def post(client: FlaskClient, device: str, token: str, reading: Any) -> Any:
    return client.post(
        f"/api/v1/devices/{device}/telemetry", json={"reading": reading}, headers=bearer(token)
    )


def wait_for(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return result


def test_a_posted_reading_becomes_the_latest_value(
    client: FlaskClient, fleet: dict[str, str], role_tokens: dict[Role, str]
) -> None:
    reader = bearer(role_tokens[Role.PLATFORM_ADMIN])
    before = client.get("/api/v1/devices/t1/latest", headers=reader).get_json()
    assert before["latest"] is None and before["status"] == "offline"
    assert post(client, "t1", fleet["t1"], {"temperature": 21}).status_code == 202
    view = wait_for(lambda: client.get("/api/v1/devices/t1/latest", headers=reader).get_json()["latest"])
    assert view["reading"] == {"temperature": 21.0} and view["source"] == "http"
    assert client.get("/api/v1/devices/t1/latest", headers=reader).get_json()["status"] == "online"


def test_bad_posts_are_refused_with_a_reason_and_counted(
    client: FlaskClient, fleet: dict[str, str], role_tokens: dict[Role, str]
) -> None:
    admin = bearer(role_tokens[Role.PLATFORM_ADMIN])
    refused = post(client, "t1", fleet["t1"], {"temperature": 1000})
    assert refused.status_code == 400 and "above the maximum" in refused.get_json()["error"]["message"]
    assert post(client, "t1", fleet["t1"], "warm").status_code == 400
    assert post(client, "t1", fleet["f1"], {"temperature": 1}).status_code == 401
    assert post(client, "t1", "", {"temperature": 1}).status_code == 401
    assert post(client, "nobody", fleet["t1"], {"temperature": 1}).status_code == 404
    view = client.get("/api/v1/devices/t1/latest", headers=admin).get_json()
    assert view["refused"] == {"invalid": 2, "bad_credential": 2}
    rows = client.get("/api/v1/telemetry/refusals", headers=admin).get_json()["refusals"]
    assert {k: rows[0][k] for k in ("device_id", "kind", "count")} == {
        "device_id": "(unknown)",
        "kind": "unknown_device",
        "count": 1,
    }


def test_the_stream_sends_new_readings_as_server_sent_events(
    client: FlaskClient, fleet: dict[str, str], role_tokens: dict[Role, str]
) -> None:
    response = client.get(
        "/api/v1/devices/t1/stream?limit=2&timeout=20", headers=bearer(role_tokens[Role.PLATFORM_ADMIN])
    )
    assert response.mimetype == "text/event-stream"
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.2):
            post(client.application.test_client(), "t1", fleet["t1"], {"temperature": 5})

    threading.Thread(target=feed, daemon=True).start()
    try:
        body = b"".join(response.response).decode()  # type: ignore[arg-type]
    finally:
        stop.set()
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert len(events) == 2 and all(
        e["device_id"] == "t1" and e["reading"] == {"temperature": 5.0} for e in events
    )


def test_commands_are_validated_and_time_out_without_an_ack(
    client: FlaskClient, fleet: dict[str, str], role_tokens: dict[Role, str]
) -> None:
    admin = bearer(role_tokens[Role.PLATFORM_ADMIN])
    bad = client.post("/api/v1/devices/f1/commands", json={"params": {"speed": 101}}, headers=admin)
    assert bad.status_code == 400 and "speed" in bad.get_json()["error"]["details"]
    sensor = client.post("/api/v1/devices/t1/commands", json={"params": {}}, headers=admin)
    assert sensor.status_code == 400
    silent = client.post(
        "/api/v1/devices/f1/commands", json={"params": {"on": True}, "timeout": 0.5}, headers=admin
    )
    assert silent.status_code == 504
    command_id = silent.get_json()["error"]["details"]["command_id"]
    record = client.get(f"/api/v1/devices/f1/commands/{command_id}", headers=admin).get_json()
    assert record["status"] == "pending" and record["params"] == {"on": True}
    http_controller = client.post("/api/v1/devices/f2/commands", json={"params": {"on": True}}, headers=admin)
    assert http_controller.status_code == 503
    assert "cannot receive commands" in http_controller.get_json()["error"]["message"]
