"""A small world for app-instance tests: device types, devices at locations, a model and an app record."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient

from canopy import devices
from canopy.apps.manifest import AppManifest
from canopy.apps.records import AppRecord, app_package_key, new_app_id
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.fixtures.device_packages.corpus import sample
from tests.fixtures.model_packages.corpus import good_modern_package

ROOM = "hyd/plant/room-1"
# id -> (type, location): two thermometers in the room (one deeper), one far away, and two fans.
DEVICES = {
    "t-deep": ("THERMOMETER", f"{ROOM}/rack-1"),
    "t-room": ("THERMOMETER", ROOM),
    "t-far": ("THERMOMETER", "blr/office"),
    "fan-1": ("SMARTFAN", ROOM),
    "fan-far": ("SMARTFAN", "blr/office"),
}


def seed_devices(backends: Backends) -> None:
    """Register the THERMOMETER and SMARTFAN types and the DEVICES."""
    with backends.store.session() as session:
        for name in ("types/thermometer.json", "types/fan.json"):
            devices.register_type(session, devices.parse_type(sample(name)))
        for device_id, (type_name, location) in DEVICES.items():
            devices.create_device(
                session, devices.parse_device({"id": device_id, "type": type_name, "location": location})
            )


def upload_model(client: FlaskClient, token: str) -> str:
    """Upload the good modern model package; its id."""
    reply = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(good_modern_package()), "model.zip")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 201, reply.get_json()
    model_id: str = reply.get_json()["id"]
    return model_id


def manifest(model_ref: str, **changes: Any) -> dict[str, Any]:
    """A fan-monitor style manifest: a thermometer, an exclusive fan and one model."""
    document: dict[str, Any] = {
        "name": "fan-monitor",
        "entry": "app:main",
        "models": [{"name": "anomaly", "ref": model_ref}],
        "devices": [
            {"name": "room_temp", "type": "THERMOMETER"},
            {"name": "fan", "type": "SMARTFAN", "kind": "controller", "exclusive": True},
        ],
    }
    return {**document, **changes}


def add_app(backends: Backends, owner: str, document: dict[str, Any]) -> str:
    """Store an app record (as an upload would) owned by user `owner`; its id."""
    parsed = AppManifest.model_validate(document)
    app_id = new_app_id()
    with backends.store.session() as session:
        user = accounts.find_user(session, owner)
        session.add(
            AppRecord(
                id=app_id,
                name=parsed.name,
                version=parsed.version,
                description=parsed.description,
                format=parsed.format,
                manifest=parsed.model_dump_json(),
                owner_id=user.id,
                blob_key=app_package_key(app_id),
                sha256="0" * 64,
                size=0,
            )
        )
    return app_id


def body(location: str, **picks: str) -> dict[str, Any]:
    """A create-instance request body."""
    return {"location": location, "bind": picks} if picks else {"location": location}
