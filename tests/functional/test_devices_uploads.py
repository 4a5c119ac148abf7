"""Type and device zip uploads: the original platform's zips register, and every bad one registers nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy.roles import Role
from tests.fixtures.device_packages.corpus import (
    BAD_DEVICE_UPLOADS,
    BAD_TYPE_UPLOADS,
    LEGACY_INSTANCES,
    LEGACY_TYPES,
    NEW_TYPES,
    BadUpload,
    sample,
    zip_bytes,
)
from tests.functional.conftest import bearer

Headers = dict[str, str]
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture()
def admin(issue_token: Callable[[Role], str]) -> Headers:
    return bearer(issue_token(Role.PLATFORM_ADMIN))


def _upload(client: FlaskClient, admin: Headers, what: str, archive: bytes) -> Any:
    return client.post(f"/api/v1/{what}/upload", headers={**admin, **ZIP}, data=archive)


def _names(client: FlaskClient, admin: Headers, what: str) -> list[str]:
    key = "device_types" if what == "device-types" else what
    rows = client.get(f"/api/v1/{what}", headers=admin).get_json()[key]
    return [row.get("name", row.get("id")) for row in rows]


def _register_types(client: FlaskClient, admin: Headers) -> None:
    reply = _upload(client, admin, "device-types", zip_bytes({**LEGACY_TYPES, **NEW_TYPES}))
    assert reply.status_code == 201, reply.get_json()


def test_the_original_zips_register_unchanged(client: FlaskClient, admin: Headers) -> None:
    wrapped = {f"sensor_controller type upload/{name}": text for name, text in LEGACY_TYPES.items()}
    reply = _upload(client, admin, "device-types", zip_bytes(wrapped))
    assert reply.status_code == 201, reply.get_json()
    registered = {row["name"]: row for row in reply.get_json()["device_types"]}
    assert set(registered) == {
        "TEMP",
        "PRESSURE",
        "IMAGE",
        "BURSTIMAGE",
        "AC",
        "FAN",
        "LIGHT",
        "SPRINKLER",
        "DISPLAY",
        "BUZZER",
    }
    assert registered["TEMP"]["definition"]["fields"] == {"data": {"type": "int"}}
    assert registered["TEMP"]["file"] == "sensor/TEMP.json" and registered["TEMP"]["company"] == "QUALCOMM"
    assert registered["BUZZER"]["definition"]["commands"] == {"set": {}}
    again = _upload(client, admin, "device-types", zip_bytes(LEGACY_TYPES)).get_json()["device_types"]
    assert {row["status"] for row in again} == {"unchanged"}

    reply = _upload(client, admin, "devices", zip_bytes(LEGACY_INSTANCES))
    assert reply.status_code == 201, reply.get_json()
    added = {row["id"]: row for row in reply.get_json()["devices"]}
    assert set(added) == {
        "temp-127-0-0-1-7001",
        "pressure-127-0-0-1-7002",
        "image-127-0-0-1-7003",
        "display-127-0-0-1-7021",
    }
    assert all(row["credential"].startswith("cnd_") for row in added.values())
    assert added["temp-127-0-0-1-7001"]["location"] == "hyd/random"
    assert added["temp-127-0-0-1-7001"]["labels"] == {"ip": "127.0.0.1", "port": "7001"}
    locations = client.get("/api/v1/locations", headers=admin).get_json()["locations"]
    assert [(loc["path"], loc["devices"]) for loc in locations] == [("hyd/gachibowli", 1), ("hyd/random", 3)]
    repeated = _upload(client, admin, "devices", zip_bytes(LEGACY_INSTANCES))
    assert repeated.status_code == 400 and "already exists" in repeated.get_json()["error"]["message"]


def test_new_format_devices_upload_and_multipart_works(client: FlaskClient, admin: Headers) -> None:
    _register_types(client, admin)
    files = {
        "devices/a.json": {
            "id": "therm-a",
            "type": "THERMOMETER",
            "location": "blr/lab",
            "config": {"interval_s": 10},
        },
        "devices/b.json": {
            "type": "SMARTFAN",
            "location": {"path": "blr/lab", "latitude": 12.9, "longitude": 77.6},
        },
    }
    reply = client.post(
        "/api/v1/devices/upload",
        headers=admin,
        data={"file": (io.BytesIO(zip_bytes(files)), "d.zip")},
    )
    assert reply.status_code == 201, reply.get_json()
    assert sorted(row["file"] for row in reply.get_json()["devices"]) == ["devices/a.json", "devices/b.json"]
    location = client.get("/api/v1/locations", headers=admin).get_json()["locations"][0]
    assert location == {
        "path": "blr/lab",
        "latitude": 12.9,
        "longitude": 77.6,
        "devices": 2,
        "devices_within": 2,
    }


def _assert_refused(reply: Any, case: BadUpload) -> None:
    assert 400 <= reply.status_code < 500, (case.name, reply.status_code)
    error = reply.get_json()["error"]
    assert case.file in error["message"], (case.name, error["message"])
    if case.fields:
        problems = error["details"]["problems"]
        assert any(p["file"] == case.file and p["field"] in case.fields for p in problems), (
            case.name,
            problems,
        )


@pytest.mark.parametrize("case", BAD_TYPE_UPLOADS, ids=lambda case: case.name)
def test_bad_type_uploads_register_nothing(client: FlaskClient, admin: Headers, case: BadUpload) -> None:
    _assert_refused(_upload(client, admin, "device-types", case.archive), case)
    assert _names(client, admin, "device-types") == []


@pytest.mark.parametrize("case", BAD_DEVICE_UPLOADS, ids=lambda case: case.name)
def test_bad_device_uploads_register_nothing(client: FlaskClient, admin: Headers, case: BadUpload) -> None:
    _register_types(client, admin)
    _assert_refused(_upload(client, admin, "devices", case.archive), case)
    assert _names(client, admin, "devices") == []
    assert client.get("/api/v1/locations", headers=admin).get_json()["locations"] == []


def test_a_type_upload_may_not_silently_change_a_registered_type(client: FlaskClient, admin: Headers) -> None:
    assert (
        client.post("/api/v1/device-types", headers=admin, json=sample("types/fan.json")).status_code == 201
    )
    changed = {**sample("types/fan.json"), "description": "changed"}
    case = BadUpload(
        "changed type", zip_bytes({"types/fan.json": changed, **LEGACY_TYPES}), "types/fan.json", ("name",)
    )
    _assert_refused(_upload(client, admin, "device-types", case.archive), case)
    assert _names(client, admin, "device-types") == ["SMARTFAN"]


def test_an_empty_upload_body_is_refused(client: FlaskClient, admin: Headers) -> None:
    reply = client.post("/api/v1/devices/upload", headers={**admin, **ZIP})
    assert reply.status_code == 400 and "zip" in reply.get_json()["error"]["message"]
