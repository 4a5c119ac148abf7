"""Devices from a program: latest readings, live streams, camera images and controller commands."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from canopy.devices.schema import DeviceTypeSpec
from canopy.devices.validation import validate_command
from canopy.errors import NotFound
from platform_sdk._client import ApiClient, default_client


def _client(client: ApiClient | None) -> ApiClient:
    """The given client, or the default one."""
    return client or default_client()


def latest_reading(device: str, client: ApiClient | None = None) -> dict[str, Any]:
    """The device's latest record: reading, when it was taken, its sequence number and status."""
    reply: dict[str, Any] = _client(client).get(f"/api/v1/devices/{device}/latest")
    return reply


def get_sensor_data(device: str, client: ApiClient | None = None) -> dict[str, Any]:
    """The latest reading of a sensor (or the latest state of a controller) as a dict of field values."""
    latest = latest_reading(device, client).get("latest")
    if latest is None:
        raise NotFound(f"device {device!r} has not sent a reading yet")
    reading: dict[str, Any] = latest["reading"]
    return reading


def get_sensor_image(device: str, field: str = "image", client: ApiClient | None = None) -> bytes:
    """The bytes of the image in the latest reading's `field` (e.g. a PNG frame of an IMAGE sensor)."""
    reading = get_sensor_data(device, client)
    if not isinstance(reading.get(field), str):
        raise NotFound(f"the latest reading of {device!r} has no image field {field!r}")
    return base64.b64decode(reading[field])


def stream_readings(
    device: str, client: ApiClient | None = None, *, limit: int = 0, timeout: float = 0
) -> Iterator[dict[str, Any]]:
    """Every new reading record of a device as it arrives (server-sent events); limit/timeout end it."""
    params = {"limit": limit, "timeout": timeout}
    for line in _client(client).stream_lines(f"/api/v1/devices/{device}/stream", params):
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


def stream_sensor(
    device: str, client: ApiClient | None = None, *, limit: int = 0, timeout: float = 0
) -> Iterator[dict[str, Any]]:
    """The field values of each new reading of a sensor, as they arrive."""
    for record in stream_readings(device, client, limit=limit, timeout=timeout):
        yield record["reading"]


def controller_type(device: str, client: ApiClient | None = None) -> DeviceTypeSpec:
    """The current type definition of a device."""
    api = _client(client)
    type_name = api.get(f"/api/v1/devices/{device}")["type"]
    return DeviceTypeSpec.model_validate(api.get(f"/api/v1/device-types/{type_name}")["definition"])


def send_controller_data(
    device: str,
    command: str | None = None,
    *,
    client: ApiClient | None = None,
    timeout: float = 5.0,
    **params: Any,
) -> dict[str, Any]:
    """Check a command against the controller's type, send it, and return the acknowledged new state.

    `command` defaults to the type's default command. Raises ValidationFailed before sending when the
    parameters do not fit, and Timeout when the controller does not acknowledge within `timeout` s.
    """
    api = _client(client)
    name, checked = validate_command(controller_type(device, api), command, params)
    body = {"command": name, "params": checked, "timeout": timeout}
    ack: dict[str, Any] = api.post(f"/api/v1/devices/{device}/commands", json=body)
    state: dict[str, Any] = ack["state"]
    return state
