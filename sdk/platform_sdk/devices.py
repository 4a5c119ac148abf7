"""Devices from a program: latest readings, live streams, camera images and controller commands.

A device is named three ways. Inside an app instance a string is a role the app declared, and an int
`i` is the original platform's index (role sensor_<i> or controller_<i>); outside one a string is a
device id. Index calls keep the original meaning: they wait for the NEXT reading and return it in the
original "data" shape. The gateway checks every command against the controller's type (a 400 names the
bad parameter), so nothing is validated here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from typing import Any, Union
from urllib.parse import quote

from platform_sdk import definitions
from platform_sdk._client import ApiClient, shared_client
from platform_sdk.errors import BadRequest, ConfigError, NotFound, Unavailable
from platform_sdk.instance import Binding, inside_instance, instance_view

Target = Union[str, int]


def _client(client: ApiClient | None) -> ApiClient:
    """The given client, or the process's shared default one."""
    return client or shared_client()


def resolve(target: Target, kind: str, api: ApiClient) -> Binding:
    """The device a role, index or device id names (kind: 'sensor' or 'controller', for indexes)."""
    if isinstance(target, bool) or not isinstance(target, (str, int)):
        raise BadRequest(f"name a device by its role (a string) or index (an int), not {target!r}")
    role = f"{kind}_{target}" if isinstance(target, int) else target
    if inside_instance():
        return instance_view(api).binding(role)
    if isinstance(target, int):
        raise ConfigError(
            f"{kind} index {target} names the role {role} of an app instance, and this process is not one "
            "(CANOPY_INSTANCE_ID is not set); outside an app instance, pass a device id"
        )
    return Binding(role="", device=target, type="", kind="", definition={})


def _path(device: str, suffix: str) -> str:
    return f"/api/v1/devices/{quote(device, safe='')}/{suffix}"


def _definition(binding: Binding, api: ApiClient) -> dict[str, Any]:
    """The device's type definition: from the instance view, else asked of the gateway."""
    if binding.definition:
        return binding.definition
    type_name = api.get(f"/api/v1/devices/{quote(binding.device, safe='')}")["type"]
    definition: dict[str, Any] = api.get(f"/api/v1/device-types/{quote(type_name, safe='')}")["definition"]
    return definition


def stream_readings(
    device: Target, client: ApiClient | None = None, *, limit: int = 0, timeout: float = 0
) -> Iterator[dict[str, Any]]:
    """Every new reading record of a device as it arrives (server-sent events); limit/timeout end it."""
    api = _client(client)
    yield from _records(resolve(device, "sensor", api).device, api, limit, timeout)


def _records(device: str, api: ApiClient, limit: int, timeout: float) -> Iterator[dict[str, Any]]:
    """The 'data:' records of the device's event stream."""
    for line in api.stream_lines(_path(device, "stream"), {"limit": limit, "timeout": timeout}):
        if line.startswith("data:"):
            yield json.loads(line[len("data:") :])


def _next_readings(binding: Binding, api: ApiClient, count: int) -> list[dict[str, Any]]:
    """The next `count` readings of a device, waiting for them as the original SDK did."""
    readings = [record["reading"] for record in _records(binding.device, api, count, 0)]
    if len(readings) < count:
        raise Unavailable(f"the stream of {binding.role or binding.device} ended before a reading arrived")
    return readings


def stream_sensor(
    device: Target, client: ApiClient | None = None, *, limit: int = 0, timeout: float = 0
) -> Iterator[dict[str, Any]]:
    """The field values of each new reading of a sensor, as they arrive."""
    for record in stream_readings(device, client, limit=limit, timeout=timeout):
        yield record["reading"]


def get_sensor_data(device: Target, client: ApiClient | None = None) -> Any:
    """A role's or device's latest reading as {field: value}; by index, the next reading in the "data" shape.

    `get_sensor_data(i)` waits for the next reading of sensor_<i> and returns the value of its one field,
    or the list of its values in the type's field order, as the original platform did.
    """
    api = _client(client)
    binding = resolve(device, "sensor", api)
    if isinstance(device, int):
        return definitions.legacy_value(binding.definition, _next_readings(binding, api, 1)[0])
    return _latest(binding, api)


def _latest(binding: Binding, api: ApiClient) -> dict[str, Any]:
    """The field values of a device's latest reading; NotFound when it has sent none."""
    latest = api.get(_path(binding.device, "latest")).get("latest")
    if latest is None:
        raise NotFound(f"device {binding.device!r} has not sent a reading yet")
    reading: dict[str, Any] = latest["reading"]
    return reading


def _image(reading: dict[str, Any], field: str, name: str) -> bytes:
    """The bytes of the base64 image in a reading's `field`."""
    value = reading.get(field)
    if not isinstance(value, str):
        raise NotFound(f"the reading of {name} has no image in field {field!r}")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise BadRequest(f"field {field!r} of the reading of {name} is not base64 image data") from None


def get_sensor_image(device: Target, field: str | None = None, client: ApiClient | None = None) -> bytes:
    """The image in a sensor's latest reading (by index: its next one): `field`, else its first image."""
    api = _client(client)
    binding = resolve(device, "sensor", api)
    label = binding.role or binding.device
    name = field or definitions.image_field(_definition(binding, api), label)
    reading = _next_readings(binding, api, 1)[0] if isinstance(device, int) else _latest(binding, api)
    return _image(reading, name, label)


def get_stream_image(sensor: Target, number_of_images: int, client: ApiClient | None = None) -> list[bytes]:
    """The images of a sensor's next `number_of_images` readings, waiting for them."""
    api = _client(client)
    binding = resolve(sensor, "sensor", api)
    name = definitions.image_field(_definition(binding, api), binding.role or binding.device)
    readings = _next_readings(binding, api, number_of_images) if number_of_images > 0 else []
    return [_image(reading, name, binding.role or binding.device) for reading in readings]


def send_controller_data(
    controller: Target,
    *args: Any,
    command: str | None = None,
    client: ApiClient | None = None,
    timeout: float = 5.0,
    **params: Any,
) -> dict[str, Any]:
    """Send a command to a controller and return the state it acknowledges.

    By name or device id: `send_controller_data(name, command=None, **params)` (`command` may also come
    second, positionally); None is the type's default command. By index, as the original platform:
    `send_controller_data(i, *values)`, the values becoming the default command's parameters in the
    type's order. The gateway checks the command (ValidationFailed names the bad parameter); Timeout
    when the controller does not acknowledge within `timeout` s.
    """
    api = _client(client)
    binding = resolve(controller, "controller", api)
    if isinstance(controller, int):
        definition = _definition(binding, api)
        command, values = definitions.positional_params(definition, command, args, binding.role)
        params = {**values, **params}
    elif args:
        if len(args) > 1 or command is not None:
            raise BadRequest(
                "send_controller_data(name, command=None, **params) takes one positional command"
            )
        command = args[0]
    body = {"command": command, "params": params, "timeout": timeout}
    ack: dict[str, Any] = api.post(_path(binding.device, "commands"), json=body)
    state: dict[str, Any] = ack["state"]
    return state
