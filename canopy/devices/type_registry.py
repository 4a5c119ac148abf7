"""Registered device types in the store: add, change (re-validating their devices), list and remove."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from canopy.devices.models import Device, DeviceType
from canopy.devices.schema import DeviceTypeSpec
from canopy.devices.validation import device_problems
from canopy.errors import Conflict, NotFound
from canopy.store.models import utcnow


@dataclass(frozen=True)
class TypeChange:
    """The outcome of registering or changing a type; `invalid` maps device ids to their problems."""

    row: DeviceType
    status: str  # "created", "unchanged" or "updated"
    invalid: dict[str, dict[str, str]]


def get_type(session: Session, name: str) -> DeviceType:
    """The registered type called `name`, or NotFound."""
    row = session.get(DeviceType, name)
    if row is None:
        raise NotFound(f"no device type {name!r}; list them with `canopy device type list`")
    return row


def spec_of(row: DeviceType) -> DeviceTypeSpec:
    """The stored definition of a type row, as a DeviceTypeSpec."""
    return DeviceTypeSpec.model_validate(row.spec)


def list_types(session: Session, kind: str | None = None) -> list[tuple[DeviceType, int]]:
    """Every type (optionally of one kind) by name, with its number of devices."""
    counts = select(Device.type_name, func.count().label("n")).group_by(Device.type_name).subquery()
    query = select(DeviceType, func.coalesce(counts.c.n, 0)).outerjoin(
        counts, counts.c.type_name == DeviceType.name
    )
    if kind is not None:
        query = query.where(DeviceType.kind == kind)
    return [(row, int(n)) for row, n in session.execute(query.order_by(DeviceType.name)).all()]


def registration_problem(session: Session, spec: DeviceTypeSpec) -> str | None:
    """Why `spec` cannot be registered as new: its name is taken by a different definition."""
    row = session.get(DeviceType, spec.name)
    if row is None or spec_of(row) == spec:
        return None
    return (
        f"type {spec.name} is already registered with a different definition; "
        f"change it with PUT /api/v1/device-types/{spec.name}"
    )


def register_type(session: Session, spec: DeviceTypeSpec) -> TypeChange:
    """Add a type; an identical re-registration changes nothing, a different one is a Conflict."""
    problem = registration_problem(session, spec)
    if problem:
        raise Conflict(problem)
    row = session.get(DeviceType, spec.name)
    if row is not None:
        return TypeChange(row, "unchanged", {})
    row = DeviceType(name=spec.name, kind=spec.kind, revision=1, spec=spec.to_json())
    session.add(row)
    session.flush()
    return TypeChange(row, "created", {})


def devices_of_type(session: Session, name: str) -> list[Device]:
    """The devices of a type, by id."""
    return list(session.scalars(select(Device).where(Device.type_name == name).order_by(Device.id)))


def update_type(
    session: Session,
    spec: DeviceTypeSpec,
    *,
    latest: Mapping[str, Mapping[str, Any]],
    force: bool = False,
) -> TypeChange:
    """Replace a type's definition, bumping its revision; its devices see it at once.

    Each device's config, and its latest reading from `latest` (device id to reading), is
    re-validated against the new definition. If any would become invalid the change is refused
    with a Conflict naming them, unless `force`; then `invalid` lists them. A kind never changes
    while devices of the type exist.
    """
    row = get_type(session, spec.name)
    devices = devices_of_type(session, spec.name)
    if spec.kind != row.kind and devices:
        raise Conflict(
            f"type {spec.name} is a {row.kind} with {len(devices)} devices; its kind cannot change",
            details={"devices": [device.id for device in devices]},
        )
    if spec_of(row) == spec:
        return TypeChange(row, "unchanged", {})
    invalid = _invalid_devices(spec, devices, latest)
    if invalid and not force:
        names = ", ".join(sorted(invalid)[:20])
        raise Conflict(
            f"changing type {spec.name} would make {len(invalid)} devices invalid: {names}; "
            "fix them first, or repeat with ?force=true",
            details={"devices": invalid},
        )
    row.kind, row.spec, row.revision, row.updated_at = spec.kind, spec.to_json(), row.revision + 1, utcnow()
    session.flush()
    return TypeChange(row, "updated", invalid)


def _invalid_devices(
    spec: DeviceTypeSpec, devices: Sequence[Device], latest: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, str]]:
    invalid = {}
    for device in devices:
        problems = device_problems(spec, device.config, latest.get(device.id))
        if problems:
            invalid[device.id] = problems
    return invalid


def delete_type(session: Session, name: str) -> None:
    """Remove a type that no device uses; Conflict naming the devices otherwise."""
    row = get_type(session, name)
    devices = devices_of_type(session, name)
    if devices:
        ids = [device.id for device in devices]
        raise Conflict(
            f"type {name} is used by {len(ids)} devices ({', '.join(ids[:20])}); remove them first",
            details={"devices": ids},
        )
    session.delete(row)
