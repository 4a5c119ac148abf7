"""Devices: types (profiles), instances, locations, credentials, and reading and command validation.

The pure part (no I/O): parse_type / parse_device, type_from_legacy / device_from_legacy,
validate_reading / validate_command / validate_config, credential_matches, device_status.
The store part takes a SQLAlchemy session: get_type + spec_of (the current definition and its
revision), get_device, authenticate_device, list_devices, register/update types, and so on.
"""

from __future__ import annotations

from canopy.devices.device_registry import (
    LocationSummary,
    NewDevice,
    authenticate_device,
    create_device,
    delete_device,
    get_device,
    list_devices,
    list_locations,
    rotate_credential,
)
from canopy.devices.instances import (
    ONLINE_WINDOW,
    TRANSPORTS,
    DeviceSpec,
    LocationSpec,
    credential_digest,
    credential_matches,
    device_status,
    is_within,
    normalise_path,
    parse_device,
)
from canopy.devices.legacy import device_from_legacy, type_from_legacy
from canopy.devices.models import Device, DeviceType, Location
from canopy.devices.schema import CommandSpec, DeviceTypeSpec, parse_type
from canopy.devices.type_registry import (
    TypeChange,
    delete_type,
    devices_of_type,
    get_type,
    list_types,
    register_type,
    spec_of,
    update_type,
)
from canopy.devices.validation import validate_command, validate_config, validate_reading

__all__ = [
    "ONLINE_WINDOW",
    "TRANSPORTS",
    "CommandSpec",
    "Device",
    "DeviceSpec",
    "DeviceType",
    "DeviceTypeSpec",
    "Location",
    "LocationSpec",
    "LocationSummary",
    "NewDevice",
    "TypeChange",
    "authenticate_device",
    "create_device",
    "credential_digest",
    "credential_matches",
    "delete_device",
    "delete_type",
    "device_from_legacy",
    "device_status",
    "devices_of_type",
    "get_device",
    "get_type",
    "is_within",
    "list_devices",
    "list_locations",
    "list_types",
    "normalise_path",
    "parse_device",
    "parse_type",
    "register_type",
    "rotate_credential",
    "spec_of",
    "type_from_legacy",
    "update_type",
    "validate_command",
    "validate_config",
    "validate_reading",
]
