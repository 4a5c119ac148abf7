"""Check readings, controller commands and device config against a device type; pure, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canopy.devices.fields import FieldProblem
from canopy.devices.schema import DeviceTypeSpec, Fields, invalid
from canopy.errors import ValidationFailed


def check_values(fields: Fields, values: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The values normalised by their fields, and a problem per bad, missing or unknown field name."""
    if not isinstance(values, Mapping):
        return {}, {"(document)": f"expected a JSON object, got {type(values).__name__}"}
    checked: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name, spec in fields.items():
        if name not in values:
            if spec.required:
                problems[name] = "required"
            continue
        try:
            checked[name] = spec.check(values[name])
        except FieldProblem as exc:
            problems[name] = str(exc)
    for name in values:
        if name not in fields:
            known = ", ".join(fields) or "none"
            problems[str(name)[:64]] = f"unknown field; the type declares: {known}"
    return checked, problems


def _checked(fields: Fields, values: Any, what: str) -> dict[str, Any]:
    checked, problems = check_values(fields, values)
    if problems:
        raise invalid(what, problems)
    return checked


def validate_reading(device_type: DeviceTypeSpec, reading: Any) -> dict[str, Any]:
    """A sensor reading (or a controller's state report), normalised; ValidationFailed if it does not fit.

    Images come back as base64 text and integers in float fields as floats, so the result is
    JSON-ready. The error's details map each bad field name to its problem.
    """
    return _checked(device_type.reported, reading, f"reading for type {device_type.name}")


def validate_command(
    device_type: DeviceTypeSpec, command: str | None, params: Any
) -> tuple[str, dict[str, Any]]:
    """The command name (None: the type's default command) and its normalised parameters.

    ValidationFailed if the type is not a controller, the command is unknown, or a parameter does
    not fit; details name the parameter (or 'command').
    """
    if device_type.kind != "controller":
        raise ValidationFailed(
            f"{device_type.name} is a sensor type; only controllers take commands",
            details={"command": "not a controller"},
        )
    name = command if command is not None else device_type.default_command_name
    spec = device_type.commands.get(name or "")
    if name is None or spec is None:
        known = ", ".join(device_type.commands)
        problem = "name a command" if name is None else f"unknown command {name[:64]!r}"
        raise ValidationFailed(
            f"{problem}; {device_type.name} accepts: {known}", details={"command": problem}
        )
    return name, _checked(spec.parameters, params, f"command {name} for type {device_type.name}")


def validate_config(device_type: DeviceTypeSpec, config: Any) -> dict[str, Any]:
    """A device's config, normalised against the type's config fields; ValidationFailed if it does not fit."""
    return _checked(device_type.config, config, f"config for type {device_type.name}")


def device_problems(
    device_type: DeviceTypeSpec, config: Mapping[str, Any], latest: Mapping[str, Any] | None
) -> dict[str, str]:
    """What would be wrong with a stored device (its config and latest reading) under device_type."""
    problems = {f"config.{k}": v for k, v in check_values(device_type.config, config)[1].items()}
    if latest is not None:
        problems.update({f"latest.{k}": v for k, v in check_values(device_type.reported, latest)[1].items()})
    return problems
