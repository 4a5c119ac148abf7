"""What the device forms post, turned into the JSON documents the REST API takes (same checks after)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from canopy.devices import CommandSpec
from canopy.errors import CanopyError, ValidationFailed
from services.gateway.portal.forms import field_problems

WHOLE = re.compile(r"^[+-]?\d+$")
DEVICE_FIELDS = ("id", "type", "location", "latitude", "longitude", "transport", "config", "labels")
PARAM_PREFIX = "param."


def parse_json_text(text: str, field: str) -> Any:
    """Pasted JSON, parsed like a JSON request body (same nesting limit); ValidationFailed on `field`."""
    try:
        return current_app.json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"not valid JSON: {exc}", details={field: f"not valid JSON: {exc}"}) from None
    except CanopyError as exc:
        raise ValidationFailed(exc.message, details={field: exc.message}) from None


def _number(raw: str) -> Any:
    """A typed-in number as a float, or the text itself so the check says what is wrong with it."""
    try:
        return float(raw)
    except ValueError:
        return raw


def device_document(form: Mapping[str, str]) -> dict[str, Any]:
    """The REST device document of the registration form; empty optional fields are left out."""
    location: dict[str, Any] = {"path": form.get("location", "")}
    for name in ("latitude", "longitude"):
        if form.get(name, "").strip():
            location[name] = _number(form[name].strip())
    document: dict[str, Any] = {
        "type": form.get("type", ""),
        "location": location,
        "transport": form.get("transport", "kafka"),
    }
    if form.get("id", "").strip():
        document["id"] = form["id"].strip()
    if form.get("config", "").strip():
        document["config"] = parse_json_text(form["config"], "config")
    labels: dict[str, str] = {}
    for line in form.get("labels", "").splitlines():
        if line.strip():
            key, equals, value = line.partition("=")
            if not equals:
                raise ValidationFailed(
                    "labels are lines of key=value", details={"labels": "use key=value lines"}
                )
            labels[key.strip()] = value.strip()
    if labels:
        document["labels"] = labels
    return document


def device_field_problems(error: CanopyError) -> dict[str, str]:
    """A refused registration's problems by form field ('location.latitude' shows at 'latitude')."""
    shown: dict[str, str] = {}
    for key, problem in field_problems(error, "id").items():
        head, _, rest = key.partition(".")
        field = (rest or "location") if head == "location" else head
        field = "location" if field == "path" else field
        field = field if field in DEVICE_FIELDS else "id"
        shown[field] = f"{shown[field]}; {key}: {problem}" if field in shown else problem
    return shown


@dataclass(frozen=True)
class ParamInput:
    """One command parameter as the command form shows it."""

    name: str
    type: str
    required: bool
    unit: str
    description: str
    minimum: float | None
    maximum: float | None
    choices: list[str] | None


def command_inputs(command: CommandSpec) -> list[ParamInput]:
    """The inputs of a command's form, one per parameter, in the type's order."""
    inputs = []
    for name, spec in command.parameters.items():
        choices = getattr(spec, "enum", None)
        inputs.append(
            ParamInput(
                name=name,
                type=spec.type,
                required=spec.required,
                unit=spec.unit,
                description=spec.description,
                minimum=getattr(spec, "minimum", None),
                maximum=getattr(spec, "maximum", None),
                choices=list(choices) if spec.type == "string" and choices else None,
            )
        )
    return inputs


def command_params(command: CommandSpec | None, form: Mapping[str, str]) -> dict[str, Any]:
    """The parameters typed into a command form; empty inputs are left out, the type checks the rest.

    Text that is not of the parameter's type is passed on as text, so the check names the problem.
    """
    params: dict[str, Any] = {}
    for name, spec in (command.parameters if command else {}).items():
        raw = form.get(f"{PARAM_PREFIX}{name}", "").strip()
        if not raw:
            continue
        if spec.type == "int":
            params[name] = int(raw) if WHOLE.match(raw) else raw
        elif spec.type == "float":
            params[name] = _number(raw)
        elif spec.type == "bool":
            params[name] = {"true": True, "false": False}.get(raw, raw)
        elif spec.type == "array":
            try:
                params[name] = json.loads(raw)
            except ValueError:
                params[name] = raw
        else:
            params[name] = raw
    return params
