"""The device registry in the store as a DeviceDirectory: each device with its type's current checks."""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from sqlalchemy import select

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

    def _spec(self, row: DeviceType) -> DeviceTypeSpec:
        """The parsed definition of a type revision, parsed once."""
        key = (row.name, row.revision)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = spec_of(row)
        return spec

    def find(self, device_id: str) -> DeviceRecord | None:
        """The device and its current type, or None."""
        return self.find_many([device_id])[device_id]

    def find_many(self, device_ids: Collection[str]) -> dict[str, DeviceRecord | None]:
        """Each of the devices with its current type (None for unknown ids), in one query."""
        found: dict[str, DeviceRecord | None] = dict.fromkeys(device_ids)
        with self.store.session() as session:
            rows = session.execute(
                select(Device, DeviceType)
                .join(DeviceType, Device.type_name == DeviceType.name)
                .where(Device.id.in_(list(found)))
            ).all()
            for device, device_type in rows:
                spec = self._spec(device_type)
                found[device.id] = DeviceRecord(
                    device_id=device.id,
                    device_type=device_type.name,
                    kind=device_type.kind,
                    transport=device.transport,
                    token_hash=device.credential_hash,
                    check_reading=partial(validate_reading, spec),
                    check_command=partial(validate_command, spec),
                )
        return found
