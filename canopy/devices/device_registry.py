"""Registered devices and locations in the store: add, look up, authenticate, rotate, list and remove."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from canopy.devices.instances import (
    DeviceSpec,
    LocationSpec,
    credential_matches,
    is_within,
    new_credential,
    normalise_path,
)
from canopy.devices.models import Device, DeviceType, Location
from canopy.devices.schema import invalid
from canopy.devices.type_registry import spec_of
from canopy.devices.validation import check_values, validate_config
from canopy.errors import BadRequest, Conflict, NotFound, Unauthorized


@dataclass(frozen=True)
class NewDevice:
    """A registered device and its credential, which is shown this once."""

    device: Device
    credential: str


@dataclass(frozen=True)
class LocationSummary:
    """A location with the number of devices at it and at it or under it."""

    location: Location
    devices: int
    devices_within: int


def device_problems_in_store(session: Session, spec: DeviceSpec, kind: str | None = None) -> dict[str, str]:
    """Why `spec` cannot be registered: an unknown type, a type of another kind, bad config, a taken id."""
    problems: dict[str, str] = {}
    row = session.get(DeviceType, spec.type)
    if row is None:
        problems["type"] = f"no device type {spec.type!r}; register the type first"
    elif kind is not None and row.kind != kind:
        problems["type"] = f"{spec.type} is a {row.kind} type, not a {kind}"
    else:
        config_problems = check_values(spec_of(row).config, spec.config)[1]
        problems.update({f"config.{name}": problem for name, problem in config_problems.items()})
    if spec.id is not None and session.get(Device, spec.id) is not None:
        problems["id"] = f"device {spec.id!r} already exists"
    return problems


def add_device(session: Session, spec: DeviceSpec) -> NewDevice:
    """Insert a device whose spec passed device_problems_in_store, with a fresh credential."""
    spec = spec.with_id()
    config = validate_config(spec_of(session.get_one(DeviceType, spec.type)), spec.config)
    location = ensure_location(session, spec.location)
    secret, digest = new_credential()
    device = Device(
        id=spec.id,
        type_name=spec.type,
        location_path=location.path,
        transport=spec.transport,
        credential_hash=digest,
        config=config,
        labels=dict(spec.labels),
    )
    session.add(device)
    session.flush()
    return NewDevice(device, secret)


def create_device(session: Session, spec: DeviceSpec) -> NewDevice:
    """Register one device: ValidationFailed for bad fields, Conflict if its id is taken."""
    problems = device_problems_in_store(session, spec)
    if list(problems) == ["id"]:
        raise Conflict(problems["id"], details=problems)
    if problems:
        raise invalid("device", problems)
    return add_device(session, spec)


def get_device(session: Session, device_id: str) -> Device:
    """The device with this id, or NotFound."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}; list them with `canopy device list`")
    return device


def authenticate_device(session: Session, device_id: str, credential: str) -> Device:
    """The device if `credential` is its current one: NotFound if unknown, Unauthorized if wrong."""
    device = get_device(session, device_id)
    if not credential_matches(device.credential_hash, credential):
        raise Unauthorized(f"wrong credential for device {device_id!r}")
    return device


def rotate_credential(session: Session, device_id: str) -> str:
    """Give a device a new credential (the old one stops working at once); return it."""
    device = get_device(session, device_id)
    secret, device.credential_hash = new_credential()
    return secret


def delete_device(session: Session, device_id: str) -> None:
    """Remove a device; its location stays."""
    session.delete(get_device(session, device_id))


def _within(prefix: str) -> ColumnElement[bool]:
    return or_(Device.location_path == prefix, Device.location_path.startswith(f"{prefix}/", autoescape=True))


def location_prefix(raw: str) -> str:
    """A location filter normalised like a path; BadRequest if it has no usable segment."""
    try:
        return normalise_path(raw)
    except ValueError as exc:
        raise BadRequest(f"bad location {raw[:100]!r}: {exc}") from None


def list_devices(
    session: Session, *, location: str | None = None, type_name: str | None = None
) -> list[Device]:
    """Devices by id, optionally only those at or under a location and of one type."""
    query = select(Device).order_by(Device.id)
    if location:
        query = query.where(_within(location_prefix(location)))
    if type_name:
        query = query.where(Device.type_name == type_name)
    return list(session.scalars(query))


def ensure_location(session: Session, spec: LocationSpec) -> Location:
    """The location at spec.path, created if new; given coordinates replace stored ones."""
    location = session.get(Location, spec.path)
    if location is None:
        location = Location(path=spec.path)
        session.add(location)
        session.flush()
    if spec.latitude is not None:
        location.latitude, location.longitude = spec.latitude, spec.longitude
    return location


def list_locations(session: Session) -> list[LocationSummary]:
    """Every location by path, with its device counts."""
    locations = session.scalars(select(Location).order_by(Location.path)).all()
    grouped = session.execute(select(Device.location_path, func.count()).group_by(Device.location_path))
    counts: dict[str, int] = {path: int(n) for path, n in grouped}
    return [
        LocationSummary(
            location,
            counts.get(location.path, 0),
            sum(n for path, n in counts.items() if is_within(path, location.path)),
        )
        for location in locations
    ]
