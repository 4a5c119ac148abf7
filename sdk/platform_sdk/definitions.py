"""Reading a device type definition (GET /device-types/T "definition") for the SDK's calls; pure.

The gateway checks readings and commands against the type itself; the SDK only needs the order of a
type's fields, its image fields and its default command, to give legacy callers what they expect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from platform_sdk.errors import BadRequest, NotFound


def reported_fields(definition: Mapping[str, Any]) -> list[str]:
    """The names of what a device reports, in the type's order: a sensor's fields, a controller's state."""
    fields = definition.get("fields") or definition.get("state") or {}
    return list(fields)


def legacy_value(definition: Mapping[str, Any], reading: Mapping[str, Any]) -> Any:
    """A reading in the original platform's "data" shape: the one field's value, else the values in order."""
    names = reported_fields(definition) or list(reading)
    if len(names) == 1:
        return reading.get(names[0])
    return [reading.get(name) for name in names]


def image_field(definition: Mapping[str, Any], device: str) -> str:
    """The first image field the device reports; NotFound when its type has none."""
    fields = definition.get("fields") or definition.get("state") or {}
    for name, spec in fields.items():
        if isinstance(spec, Mapping) and spec.get("type") == "image":
            return str(name)
    kind = definition.get("name", "its type")
    raise NotFound(f"{device} ({kind}) reports no image field; its fields are: {', '.join(fields) or 'none'}")


def default_command(definition: Mapping[str, Any], device: str) -> str:
    """The command used when none is named: default_command, or the only command the type has."""
    commands = definition.get("commands") or {}
    chosen = definition.get("default_command")
    if chosen is None and len(commands) == 1:
        chosen = next(iter(commands))
    if not chosen:
        known = ", ".join(commands) or "none (it is not a controller)"
        raise BadRequest(
            f"{device} has no default command; name one of: {known}", details={"command": "required"}
        )
    return str(chosen)


def positional_params(
    definition: Mapping[str, Any], command: str | None, values: Sequence[Any], device: str
) -> tuple[str, dict[str, Any]]:
    """The command (None: the default one) and its parameters from positional values, in the type's order."""
    name = command or default_command(definition, device)
    spec = (definition.get("commands") or {}).get(name)
    if not isinstance(spec, Mapping):
        known = ", ".join(definition.get("commands") or {}) or "none"
        raise BadRequest(f"{device} has no command {name!r}; it accepts: {known}", details={"command": name})
    names = list(spec.get("parameters") or {})
    if len(values) > len(names):
        raise BadRequest(
            f"{len(values)} values for command {name} of {device}, which takes {len(names)}: "
            f"{', '.join(names)}",
            details={"params": f"at most {len(names)} values"},
        )
    return name, dict(zip(names, values))
