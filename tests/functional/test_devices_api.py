"""Device types, devices and locations through the REST API, on the embedded store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy import devices
from canopy.errors import Unauthorized, ValidationFailed
from canopy.roles import Role
from canopy.runtime.backends import Backends
from canopy.telemetry.models import LatestReading
from tests.fixtures.device_packages.corpus import sample
from tests.functional.conftest import bearer

Headers = dict[str, str]


@pytest.fixture()
def admin(issue_token: Callable[[Role], str]) -> Headers:
    return bearer(issue_token(Role.PLATFORM_ADMIN))


def _ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.get_json()
    return reply.get_json()


def _thermometers(client: FlaskClient, admin: Headers) -> None:
    _ok(client.post("/api/v1/device-types", headers=admin, json=sample("types/thermometer.json")), 201)
    for device_id, location in (("t-1", "HYD/Random"), ("t-2", "hyd/random/lab"), ("t-3", "blr/mg-road")):
        body = {"id": device_id, "type": "THERMOMETER", "location": location}
        _ok(client.post("/api/v1/devices", headers=admin, json=body), 201)


def test_types_register_list_show_and_re_register(client: FlaskClient, admin: Headers) -> None:
    created = _ok(client.post("/api/v1/device-types", headers=admin, json=sample("types/fan.json")), 201)
    assert created["name"] == "SMARTFAN" and created["revision"] == 1 and created["kind"] == "controller"
    again = client.post("/api/v1/device-types", headers=admin, json=sample("types/fan.json"))
    assert again.status_code == 200
    changed = {**sample("types/fan.json"), "description": "another"}
    conflict = client.post("/api/v1/device-types", headers=admin, json=changed)
    assert conflict.status_code == 409 and "PUT" in conflict.get_json()["error"]["message"]
    listed = _ok(client.get("/api/v1/device-types?kind=controller", headers=admin))["device_types"]
    assert [(t["name"], t["devices"]) for t in listed] == [("SMARTFAN", 0)]
    assert _ok(client.get("/api/v1/device-types?kind=sensor", headers=admin))["device_types"] == []
    shown = _ok(client.get("/api/v1/device-types/SMARTFAN", headers=admin))
    assert shown["definition"]["commands"]["set"]["parameters"]["on"] == {"type": "bool"}
    assert client.get("/api/v1/device-types/NOPE", headers=admin).status_code == 404


def test_a_bad_type_is_refused_with_the_field(client: FlaskClient, admin: Headers) -> None:
    bad = {"name": "X", "kind": "sensor", "fields": {"t": {"type": "int", "minimum": 5, "maximum": 1}}}
    reply = client.post("/api/v1/device-types", headers=admin, json=bad)
    assert reply.status_code == 400 and "fields.t" in reply.get_json()["error"]["details"]
    assert client.post("/api/v1/device-types", headers=admin, data="{").status_code == 400


def test_devices_register_with_a_credential_shown_once(
    client: FlaskClient, admin: Headers, backends: Backends
) -> None:
    _ok(client.post("/api/v1/device-types", headers=admin, json=sample("types/thermometer.json")), 201)
    body = {
        "type": "THERMOMETER",
        "location": {"path": "Hyderabad/Main Street/Lab 1", "latitude": 17.4, "longitude": 78.5},
        "transport": "mqtt",
        "config": {"interval_s": 5},
        "labels": {"vendor": "acme"},
    }
    created = _ok(client.post("/api/v1/devices", headers=admin, json=body), 201)
    device_id, credential = created["id"], created["credential"]
    assert device_id.startswith("thermometer-") and credential.startswith("cnd_")
    assert created["location"] == "hyderabad/main-street/lab-1" and created["status"] == "offline"
    shown = _ok(client.get(f"/api/v1/devices/{device_id}", headers=admin))
    assert "credential" not in shown and shown["config"] == {"interval_s": 5} and shown["latest"] is None
    with backends.store.session() as session:
        assert devices.authenticate_device(session, device_id, credential).id == device_id
        stored = devices.get_device(session, device_id)
        assert credential not in stored.credential_hash
    duplicate = client.post("/api/v1/devices", headers=admin, json={**body, "id": device_id})
    assert duplicate.status_code == 409


def test_a_kafka_device_is_told_its_login_topics_and_group(client: FlaskClient, admin: Headers) -> None:
    _ok(client.post("/api/v1/device-types", headers=admin, json=sample("types/thermometer.json")), 201)
    body = {"id": "t-9", "type": "THERMOMETER", "location": "hyd", "transport": "kafka"}
    created = _ok(client.post("/api/v1/devices", headers=admin, json=body), 201)
    assert created["kafka"] == {
        "username": "device-t-9",
        "ingest_topic": "canopy.ingest.t-9",
        "command_topic": "canopy.commands.t-9",
        "group": "device-t-9",
    }
    mqtt = _ok(
        client.post("/api/v1/devices", headers=admin, json={**body, "id": "t-10", "transport": "mqtt"}), 201
    )
    assert "kafka" not in mqtt


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "NOPE", "location": "hyd"}, "type"),
        ({"type": "THERMOMETER", "location": "hyd", "config": {"interval_s": 0}}, "config.interval_s"),
        ({"type": "THERMOMETER", "location": "hyd", "config": {"colour": "red"}}, "config.colour"),
        ({"type": "THERMOMETER", "location": "..."}, "location.path"),
        ({"type": "THERMOMETER", "location": "hyd", "transport": "zigbee"}, "transport"),
    ],
)
def test_bad_devices_are_refused_with_the_field(
    client: FlaskClient, admin: Headers, body: dict[str, Any], field: str
) -> None:
    _ok(client.post("/api/v1/device-types", headers=admin, json=sample("types/thermometer.json")), 201)
    reply = client.post("/api/v1/devices", headers=admin, json=body)
    assert reply.status_code == 400 and field in reply.get_json()["error"]["details"], reply.get_json()
    assert _ok(client.get("/api/v1/devices", headers=admin))["devices"] == []


def test_rotating_a_credential_retires_the_old_one(
    client: FlaskClient, admin: Headers, backends: Backends
) -> None:
    _ok(client.post("/api/v1/device-types", headers=admin, json=sample("types/fan.json")), 201)
    old = _ok(
        client.post(
            "/api/v1/devices", headers=admin, json={"id": "fan-1", "type": "SMARTFAN", "location": "x"}
        ),
        201,
    )
    new = _ok(client.post("/api/v1/devices/fan-1/credential", headers=admin))["credential"]
    with backends.store.session() as session:
        assert devices.authenticate_device(session, "fan-1", new).id == "fan-1"
        with pytest.raises(Unauthorized):
            devices.authenticate_device(session, "fan-1", old["credential"])
    assert client.post("/api/v1/devices/nope/credential", headers=admin).status_code == 404


def test_filters_locations_and_delete(
    client: FlaskClient, admin: Headers, issue_token: Callable[[Role], str]
) -> None:
    _thermometers(client, admin)
    reader = bearer(issue_token(Role.END_USER))

    def ids(path: str, headers: Headers = admin) -> list[str]:
        return [d["id"] for d in _ok(client.get(path, headers=headers))["devices"]]

    assert ids("/api/v1/devices", reader) == ids("/api/v1/locations/hyd/devices", reader) == []

    assert ids("/api/v1/devices") == ["t-1", "t-2", "t-3"]
    assert ids("/api/v1/devices?location=HYD") == ["t-1", "t-2"]
    assert ids("/api/v1/devices?location=hyd/random/lab") == ["t-2"]
    assert ids("/api/v1/devices?location=hy") == []
    assert ids("/api/v1/devices?type=THERMOMETER&location=blr") == ["t-3"]
    assert ids("/api/v1/locations/hyd/devices") == ["t-1", "t-2"]
    assert client.get("/api/v1/devices?location=//", headers=admin).status_code == 400
    locations = _ok(client.get("/api/v1/locations", headers=reader))["locations"]
    assert [(loc["path"], loc["devices"], loc["devices_within"]) for loc in locations] == [
        ("blr/mg-road", 1, 1),
        ("hyd/random", 1, 2),
        ("hyd/random/lab", 1, 1),
    ]
    assert client.delete("/api/v1/devices/t-2", headers=reader).status_code == 403
    assert client.delete("/api/v1/devices/t-2", headers=admin).status_code == 204
    assert client.get("/api/v1/devices/t-2", headers=reader).status_code == 403
    assert client.get("/api/v1/devices/t-2", headers=admin).status_code == 404
    assert client.delete("/api/v1/device-types/THERMOMETER", headers=admin).status_code == 409
    for device_id in ("t-1", "t-3"):
        assert client.delete(f"/api/v1/devices/{device_id}", headers=admin).status_code == 204
    assert client.delete("/api/v1/device-types/THERMOMETER", headers=admin).status_code == 204


def test_ai_developers_do_not_see_devices(client: FlaskClient, issue_token: Callable[[Role], str]) -> None:
    ai = bearer(issue_token(Role.AI_DEVELOPER))
    for path in ("/api/v1/devices", "/api/v1/device-types", "/api/v1/locations"):
        assert client.get(path, headers=ai).status_code == 403
    app = bearer(issue_token(Role.APP_DEVELOPER))
    assert client.get("/api/v1/device-types", headers=app).status_code == 200
    assert client.post("/api/v1/device-types", headers=app, json=sample("types/fan.json")).status_code == 403


def _store_latest(backends: Backends, device_id: str, reading: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    with backends.store.session() as session:
        session.add(
            LatestReading(
                device_id=device_id,
                device_type="THERMOMETER",
                reading=reading,
                at=now,
                source="http",
                last_seen=now,
            )
        )


def test_changing_a_type_revalidates_its_devices(
    client: FlaskClient, admin: Headers, backends: Backends
) -> None:
    _thermometers(client, admin)
    _store_latest(backends, "t-1", {"temperature": 60.0, "humidity": 50})
    shown = _ok(client.get("/api/v1/devices/t-1", headers=admin))
    assert shown["status"] == "online" and shown["latest"]["temperature"] == 60.0

    cooler = sample("types/thermometer.json")
    cooler["fields"]["temperature"]["maximum"] = 50
    refused = client.put("/api/v1/device-types/THERMOMETER", headers=admin, json=cooler)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert "t-1" in error["message"] and "force" in error["message"]
    assert error["details"]["devices"] == {"t-1": {"latest.temperature": "60 is above the maximum 50"}}
    assert _ok(client.get("/api/v1/device-types/THERMOMETER", headers=admin))["revision"] == 1

    forced = _ok(client.put("/api/v1/device-types/THERMOMETER?force=true", headers=admin, json=cooler))
    assert (
        forced["status"] == "updated"
        and forced["revision"] == 2
        and list(forced["invalid_devices"]) == ["t-1"]
    )
    with backends.store.session() as session:
        current = devices.spec_of(devices.get_type(session, "THERMOMETER"))
    with pytest.raises(ValidationFailed):
        devices.validate_reading(current, {"temperature": 55.0, "humidity": 1})

    same = _ok(client.put("/api/v1/device-types/THERMOMETER", headers=admin, json=cooler))
    assert same["status"] == "unchanged" and same["revision"] == 2
    strict_config = sample("types/thermometer.json")
    strict_config["config"]["interval_s"]["required"] = True
    missing = client.put("/api/v1/device-types/THERMOMETER", headers=admin, json=strict_config)
    assert missing.status_code == 409 and set(missing.get_json()["error"]["details"]["devices"]) == {
        "t-1",
        "t-2",
        "t-3",
    }


def test_type_changes_that_cannot_apply(client: FlaskClient, admin: Headers) -> None:
    _thermometers(client, admin)
    controller = {"name": "THERMOMETER", "kind": "controller", "commands": {"x": {}}}
    assert (
        client.put("/api/v1/device-types/THERMOMETER?force=true", headers=admin, json=controller).status_code
        == 409
    )
    other = {**sample("types/thermometer.json"), "name": "OTHER"}
    assert client.put("/api/v1/device-types/THERMOMETER", headers=admin, json=other).status_code == 400
    assert (
        client.put("/api/v1/device-types/NOPE", headers=admin, json={**other, "name": "NOPE"}).status_code
        == 404
    )
