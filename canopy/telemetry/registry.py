"""The device registry in the store as a DeviceDirectory: each device with its type's current checks."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from canopy.devices.models import Device, DeviceType
from canopy.devices.schema import DeviceTypeSpec
from canopy.devices.type_registry import spec_of
from canopy.devices.validation import validate_command, validate_reading
from canopy.store import Store
from canopy.telemetry.directory import DeviceRecord


class StoreDirectory:
    """Looks devices up in the platform store; every lookup sees the type as it is now."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._specs: dict[tuple[str, int], DeviceTypeSpec] = {}

    def _spec(self, session: Session, type_name: str, revision: int) -> DeviceTypeSpec:
        """The parsed definition of a type revision, read and parsed once."""
        spec = self._specs.get((type_name, revision))
        if spec is None:
            row = session.get(DeviceType, type_name)
            if row is None:  # removed between the two reads: the caller's lookup fails and is retried
                raise LookupError(f"device type {type_name!r} was removed while it was read")
            spec = self._specs[(row.name, row.revision)] = spec_of(row)
        return spec

    def find(self, device_id: str) -> DeviceRecord | None:
        """The device and its current type, or None."""
        return self.find_many([device_id])[device_id]

    def find_many(self, device_ids: Collection[str]) -> dict[str, DeviceRecord | None]:
        """Each of the devices with its current type (None for unknown ids), in one query."""
        found: dict[str, DeviceRecord | None] = dict.fromkeys(device_ids)
        with self.store.session() as session:
            # plain columns, not ORM objects: the background refresh runs this twice a second
            rows = session.execute(
                select(
                    Device.id,
                    Device.transport,
                    Device.credential_hash,
                    DeviceType.name,
                    DeviceType.kind,
                    DeviceType.revision,
                )
                .join(DeviceType, Device.type_name == DeviceType.name)
                .where(Device.id.in_(list(found)))
            ).all()
            for device_id, transport, token_hash, type_name, kind, revision in rows:
                spec = self._spec(session, type_name, revision)
                found[device_id] = DeviceRecord(
                    device_id=device_id,
                    device_type=type_name,
                    kind=kind,
                    transport=transport,
                    token_hash=token_hash,
                    check_reading=partial(validate_reading, spec),
                    check_command=partial(validate_command, spec),
                )
        return found
