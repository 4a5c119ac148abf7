"""App instances: bind an app at a location, resolve its models, take its exclusive holds, and remove it.

Holds are DeviceHold rows keyed by device id, so of two instances racing for one exclusive controller
exactly one commits; the other binds again, now seeing the hold, and gets another device or a
Conflict naming the holder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from canopy.apps.binding import Bound, Candidate, bind
from canopy.apps.credentials import unusable_digest
from canopy.apps.manifest import AppManifest, ModelUse
from canopy.apps.records import AppInstance, AppRecord, DeviceHold, new_instance_id
from canopy.devices.instances import normalise_path
from canopy.devices.models import Device, DeviceType
from canopy.errors import NotFound, Unprocessable, ValidationFailed
from canopy.models import ModelRecord
from canopy.models.repository import resolve_model
from canopy.store import Store
from canopy.store.engine import conflict_on_duplicate, is_unique_violation

BIND_ATTEMPTS = 3


def app_manifest(app: AppRecord) -> AppManifest:
    """The normalised manifest stored with an app."""
    return AppManifest.model_validate_json(app.manifest)


def get_app(session: Session, app_id: str) -> AppRecord:
    """The app `app_id`, or NotFound."""
    app = session.get(AppRecord, app_id)
    if app is None:
        raise NotFound(f"no app {app_id!r}; `canopy app list` shows the uploaded apps")
    return app


def get_instance(session: Session, instance_id: str) -> AppInstance:
    """The instance `instance_id`, or NotFound."""
    instance = session.get(AppInstance, instance_id)
    if instance is None:
        raise NotFound(f"no app instance {instance_id!r}; `canopy app instances` lists yours")
    return instance


def parse_location(raw: Any) -> str:
    """The normalised location path of a request, or ValidationFailed naming the field."""
    if not isinstance(raw, str):
        raise ValidationFailed("location is a path like city/site/room", details={"location": "required"})
    try:
        return normalise_path(raw)
    except ValueError as exc:
        raise ValidationFailed(f"location: {exc}", details={"location": "invalid"}) from exc


def parse_picks(raw: Any) -> dict[str, str]:
    """Explicit picks {role: device id} of a request, or ValidationFailed naming the field."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v for v in raw.values()):
        raise ValidationFailed('bind is an object {"role": "device id"}', details={"bind": "invalid"})
    return {str(role): device for role, device in raw.items()}


def device_candidates(session: Session, types: set[str]) -> list[Candidate]:
    """Every device of the given types, with its kind."""
    rows = session.execute(
        select(Device.id, Device.type_name, Device.location_path, DeviceType.kind)
        .join(DeviceType, Device.type_name == DeviceType.name)
        .where(Device.type_name.in_(sorted(types)))
    )
    return [
        Candidate(row[0], row[1], row[2], "controller" if row[3] == "controller" else "sensor")
        for row in rows
    ]


def current_holds(session: Session) -> dict[str, str]:
    """Held device id -> holding instance id."""
    return {row[0]: row[1] for row in session.execute(select(DeviceHold.device_id, DeviceHold.instance_id))}


def _matches(version: str, wanted: SpecifierSet) -> bool:
    try:
        return Version(version) in wanted
    except InvalidVersion:
        return False


def resolve_model_use(session: Session, use: ModelUse, app: AppRecord) -> ModelRecord:
    """The model an app's declared use names (bare names are the app developer's) in its version range."""
    try:
        record = resolve_model(session, use.ref, app.owner_id or 0)
    except NotFound as exc:
        raise Unprocessable(f"model {use.name!r} of app {app.name}: {exc.message}") from exc
    if not use.version:
        return record
    try:
        wanted = SpecifierSet(use.version)
    except InvalidSpecifier as exc:
        raise Unprocessable(f"model {use.name!r}: version range {use.version!r} is invalid") from exc
    versions = session.scalars(
        select(ModelRecord)
        .where(ModelRecord.name == record.name, ModelRecord.owner_id == record.owner_id)
        .order_by(ModelRecord.created_at.desc())
    )
    found = next((row for row in versions if _matches(row.version, wanted)), None)
    if found is None:
        raise Unprocessable(f"model {use.name!r}: no version of {record.name} matches {use.version!r}")
    return found


def _bindings_json(bound: Mapping[str, Bound]) -> str:
    return json.dumps(
        {role: {"device": b.device, "type": b.type, "kind": b.kind} for role, b in bound.items()}
    )


def _create_once(
    session: Session,
    app_id: str,
    owner_id: int,
    location: str,
    picks: Mapping[str, str],
    also: Callable[[Session, AppInstance], None] | None,
) -> AppInstance:
    """Bind and store one instance with its holds (flushed, so a lost race raises IntegrityError here)."""
    app = get_app(session, app_id)
    manifest = app_manifest(app)
    devices = device_candidates(session, {role.type for role in manifest.devices})
    bound = bind(manifest.devices, location, devices, current_holds(session), picks)
    models = {use.name: resolve_model_use(session, use, app).id for use in manifest.models}
    instance = AppInstance(
        id=new_instance_id(),
        app_id=app.id,
        owner_id=owner_id,
        location=location,
        bindings=_bindings_json(bound),
        models=json.dumps(models),
        token_hash=unusable_digest(),
        status="created",
    )
    session.add(instance)
    session.flush()
    for binding in bound.values():
        if binding.exclusive:
            session.add(DeviceHold(device_id=binding.device, instance_id=instance.id, role=binding.role))
    session.flush()
    if also is not None:
        also(session, instance)
    return instance


def create_instance(
    store: Store,
    app_id: str,
    owner_id: int,
    location: str,
    picks: Mapping[str, str],
    also: Callable[[Session, AppInstance], None] | None = None,
) -> AppInstance:
    """Create an instance of the app for `owner_id` at the normalised location; rebinds after a lost race.

    `also` records more about the new instance in the same transaction.
    """
    for _ in range(BIND_ATTEMPTS - 1):
        try:
            with store.session() as session:
                return _create_once(session, app_id, owner_id, location, picks, also)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
    with conflict_on_duplicate("the devices changed while binding; try again"), store.session() as session:
        return _create_once(session, app_id, owner_id, location, picks, also)


def remove_instance(session: Session, instance: AppInstance) -> None:
    """Delete an instance and release its exclusive holds."""
    for hold in session.scalars(select(DeviceHold).where(DeviceHold.instance_id == instance.id)):
        session.delete(hold)
    session.delete(instance)
    session.flush()


def held_devices(session: Session, instance_id: str) -> list[str]:
    """The devices an instance holds exclusively."""
    query = select(DeviceHold.device_id).where(DeviceHold.instance_id == instance_id)
    return list(session.scalars(query.order_by(DeviceHold.device_id)))


def instance_view(instance: AppInstance, holds: list[str] | None = None) -> dict[str, Any]:
    """An instance as the API shows it."""
    view: dict[str, Any] = {
        "id": instance.id,
        "app_id": instance.app_id,
        "app": instance.app.name,
        "app_version": instance.app.version,
        "format": instance.app.format,
        "owner": instance.owner.name if instance.owner else None,
        "location": instance.location,
        "bindings": json.loads(instance.bindings),
        "models": json.loads(instance.models),
        "status": instance.status,
        "created_at": instance.created_at.isoformat(),
    }
    if holds is not None:
        view["holds"] = holds
    return view
