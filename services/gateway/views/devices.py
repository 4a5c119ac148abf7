"""Device types, devices and locations: platform_admin registers and changes; readers look.

Readers of types and locations are platform_admin, app_developer (apps declare device types) and
end_user (who books apps at locations); ai_developer has no use for devices and is refused. Devices
themselves are read only by those services.gateway.ownership.may_use_device lets through.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session

from canopy import devices
from canopy.bus.kafka_acl import device_names
from canopy.devices.packages import register_device_package, register_type_package
from canopy.errors import BadRequest
from canopy.roles import Role
from canopy.telemetry.device_logins import grant_login, revoke_login
from canopy.telemetry.models import LatestReading
from canopy.telemetry.mqtt_accounts import DeviceAccounts, device_accounts
from canopy.telemetry.storage import latest_of
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import may_use_device, require_device_user
from services.gateway.views.helpers import json_body

blueprint = Blueprint("devices", __name__, url_prefix="/api/v1")
READERS = (Role.PLATFORM_ADMIN, Role.APP_DEVELOPER, Role.END_USER)


def _session() -> AbstractContextManager[Session]:
    return gateway_context().backends.store.session()


def _accounts() -> DeviceAccounts:
    """The broker's device accounts, kept in step with registrations, rotations and removals."""
    accounts: DeviceAccounts | None = current_app.extensions.get("canopy-mqtt-accounts")
    if accounts is None:
        accounts = device_accounts(gateway_context().backends.config)
        current_app.extensions["canopy-mqtt-accounts"] = accounts
    return accounts


def with_broker_login(new: devices.NewDevice) -> devices.NewDevice:
    """A new device, once its broker login (mqtt or kafka devices) has its credential; before the commit."""
    config = gateway_context().backends.config
    grant_login(config, _accounts(), new.device.id, new.device.transport, new.credential)
    return new


def _type_view(row: devices.DeviceType, device_count: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": row.name,
        "kind": row.kind,
        "revision": row.revision,
        "company": row.spec.get("company", ""),
        "model": row.spec.get("model", ""),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "definition": row.spec,
    }
    if device_count is not None:
        view["devices"] = device_count
    return view


def _device_view(
    device: devices.Device, latest: LatestReading | None, *, full: bool = False
) -> dict[str, Any]:
    last_seen = latest.last_seen if latest is not None else None
    view: dict[str, Any] = {
        "id": device.id,
        "type": device.type_name,
        "location": device.location_path,
        "transport": device.transport,
        "status": devices.device_status(last_seen, datetime.now(UTC)),
        "last_seen_at": last_seen.isoformat() if last_seen else None,
        "labels": device.labels,
        "config": device.config,
        "created_at": device.created_at.isoformat(),
    }
    if full:
        view["latest"] = latest.reading if latest is not None else None
    return view


def _devices_view(session: Session, found: list[devices.Device]) -> Response:
    principal = current_principal()
    found = [device for device in found if may_use_device(principal, device.id)]
    latest = latest_of(session, (device.id for device in found))
    return jsonify({"devices": [_device_view(device, latest.get(device.id)) for device in found]})


def _new_device_view(new: devices.NewDevice) -> dict[str, Any]:
    view = {**_device_view(new.device, None), "credential": new.credential}
    if new.device.transport == "kafka":
        view["kafka"] = device_names(gateway_context().backends.config.topic_prefix, new.device.id)
    return view


def _upload() -> bytes:
    """The uploaded zip: the multipart field 'file', else the raw request body."""
    stored = request.files.get("file")
    data = stored.read() if stored is not None else request.get_data()
    if not data:
        raise BadRequest("send the zip as the body (Content-Type: application/zip) or as multipart 'file'")
    return data


@blueprint.get("/device-types")
@allow(*READERS)
def list_types() -> Response:
    """Every device type with its device count; ?kind=sensor|controller filters."""
    with _session() as session:
        rows = devices.list_types(session, request.args.get("kind") or None)
        return jsonify({"device_types": [_type_view(row, count) for row, count in rows]})


@blueprint.post("/device-types")
@allow(Role.PLATFORM_ADMIN)
def create_type() -> tuple[Response, int]:
    """Register a type from its JSON definition (201); an identical one again is a no-op (200)."""
    spec = devices.parse_type(json_body())
    with _session() as session:
        change = devices.register_type(session, spec)
        return jsonify(_type_view(change.row)), 201 if change.status == "created" else 200


@blueprint.post("/device-types/upload")
@allow(Role.PLATFORM_ADMIN)
def upload_types() -> tuple[Response, int]:
    """Register every type in a zip (original sensor/ and controller/ files, or types/), or none."""
    data = _upload()
    with _session() as session:
        changes = register_type_package(session, data)
        registered = [{"file": file, "status": c.status, **_type_view(c.row)} for file, c in changes]
        return jsonify({"device_types": registered}), 201


@blueprint.get("/device-types/<name>")
@allow(*READERS)
def show_type(name: str) -> Response:
    """One type with its full definition and device count."""
    with _session() as session:
        row = devices.get_type(session, name)
        return jsonify(_type_view(row, len(devices.devices_of_type(session, name))))


@blueprint.put("/device-types/<name>")
@allow(Role.PLATFORM_ADMIN)
def update_type(name: str) -> Response:
    """Change a type; its devices are re-validated (409 naming the invalid ones unless ?force=true)."""
    body = json_body()
    body.setdefault("name", name)
    if body["name"] != name:
        raise BadRequest(f"the definition names {body['name']!r} but the URL names {name!r}")
    spec = devices.parse_type(body)
    force = request.args.get("force", "").lower() in ("1", "true", "yes")
    with _session() as session:
        ids = [device.id for device in devices.devices_of_type(session, name)]
        latest = {device_id: row.reading for device_id, row in latest_of(session, ids).items()}
        change = devices.update_type(session, spec, latest=latest, force=force)
        return jsonify({**_type_view(change.row), "status": change.status, "invalid_devices": change.invalid})


@blueprint.delete("/device-types/<name>")
@allow(Role.PLATFORM_ADMIN)
def delete_type(name: str) -> tuple[str, int]:
    """Remove a type no device uses."""
    with _session() as session:
        devices.delete_type(session, name)
    return "", 204


@blueprint.get("/devices")
@allow(*READERS)
def list_devices() -> Response:
    """Devices, optionally ?location=<path prefix> and ?type=<type name>."""
    with _session() as session:
        found = devices.list_devices(
            session, location=request.args.get("location"), type_name=request.args.get("type")
        )
        return _devices_view(session, found)


@blueprint.post("/devices")
@allow(Role.PLATFORM_ADMIN)
def create_device() -> tuple[Response, int]:
    """Register a device; the reply carries its credential, shown only this once."""
    spec = devices.parse_device(json_body())
    with _session() as session:
        return jsonify(_new_device_view(with_broker_login(devices.create_device(session, spec)))), 201


@blueprint.post("/devices/upload")
@allow(Role.PLATFORM_ADMIN)
def upload_devices() -> tuple[Response, int]:
    """Register every device in a zip (original sensors/ and controllers/ files, or devices/), or none."""
    data = _upload()
    with _session() as session:
        added = [(file, with_broker_login(new)) for file, new in register_device_package(session, data)]
        return jsonify({"devices": [{"file": file, **_new_device_view(new)} for file, new in added]}), 201


@blueprint.get("/devices/<device_id>")
@allow(*READERS)
def show_device(device_id: str) -> Response:
    """One device with its status and latest reading."""
    require_device_user(current_principal(), device_id)
    with _session() as session:
        device = devices.get_device(session, device_id)
        return jsonify(_device_view(device, latest_of(session, [device_id]).get(device_id), full=True))


@blueprint.delete("/devices/<device_id>")
@allow(Role.PLATFORM_ADMIN)
def delete_device(device_id: str) -> tuple[str, int]:
    """Remove a device; its credential (and broker account) stops working."""
    with _session() as session:
        transport = devices.get_device(session, device_id).transport
        devices.delete_device(session, device_id)
        revoke_login(gateway_context().backends.config, _accounts(), device_id, transport)
    return "", 204


@blueprint.post("/devices/<device_id>/credential")
@allow(Role.PLATFORM_ADMIN)
def rotate_credential(device_id: str) -> Response:
    """Give a device a new credential, shown only this once; the old one stops working."""
    with _session() as session:
        credential = devices.rotate_credential(session, device_id)
        device = devices.get_device(session, device_id)
        grant_login(gateway_context().backends.config, _accounts(), device_id, device.transport, credential)
        return jsonify({"id": device_id, "credential": credential})


@blueprint.get("/locations")
@allow(*READERS)
def list_locations() -> Response:
    """Every location with its coordinates and the number of devices at it and within it."""
    with _session() as session:
        summaries = devices.list_locations(session)
        return jsonify(
            {
                "locations": [
                    {
                        "path": s.location.path,
                        "latitude": s.location.latitude,
                        "longitude": s.location.longitude,
                        "devices": s.devices,
                        "devices_within": s.devices_within,
                    }
                    for s in summaries
                ]
            }
        )


@blueprint.get("/locations/<path:path>/devices")
@allow(*READERS)
def devices_at(path: str) -> Response:
    """The devices at a location and under it."""
    with _session() as session:
        return _devices_view(session, devices.list_devices(session, location=path))
