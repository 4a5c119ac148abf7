"""The original platform's type and instance files, read unchanged and mapped onto the new model; pure.

Type files `sensor/<TYPE>.json` / `controller/<TYPE>.json` hold company, model, parameter_count and
parameters (each int, float, string, image or boolean). One parameter becomes the field (or state
and `set` parameter) `data`, several become `data_1` ... `data_n`. Instance files hold type,
ip_loc{ip, port} and geo_location{street, city}: the location becomes city/street, the id
<type>-<ip>-<port>, and ip, port and data_source become labels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from canopy.devices.fields import DEFAULT_IMAGE_BYTES
from canopy.devices.instances import DeviceSpec, legacy_path, slug
from canopy.devices.schema import DeviceTypeSpec, Kind, validated
from canopy.errors import ValidationFailed

LEGACY_IMAGE_BYTES = 2 * DEFAULT_IMAGE_BYTES
LEGACY_COMMAND = "set"
FIELD_TYPES = {"int": "int", "float": "float", "string": "string", "boolean": "bool", "image": "image"}


class _Legacy(BaseModel):
    """Original documents: unknown keys are ignored, as the original schemas allowed them."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class LegacyType(_Legacy):
    """A type file of the original platform."""

    company: str
    model: str
    parameter_count: int = Field(ge=0, le=64)
    parameters: list[Literal["int", "float", "string", "image", "boolean"]]

    @field_validator("parameters")
    @classmethod
    def _count_matches(cls, parameters: list[str], info: ValidationInfo) -> list[str]:
        count = info.data.get("parameter_count")
        if count is not None and count != len(parameters):
            raise ValueError(f"parameter_count is {count} but {len(parameters)} parameters are listed")
        return parameters


class _IpLoc(_Legacy):
    ip: str = Field(min_length=1, max_length=253)
    port: str | int


class _GeoLocation(_Legacy):
    street: str
    city: str


class LegacyInstance(_Legacy):
    """An instance file of the original platform."""

    type: str
    ip_loc: _IpLoc
    geo_location: _GeoLocation
    data_source: str | None = None


def _field(kind: str) -> dict[str, Any]:
    field: dict[str, Any] = {"type": FIELD_TYPES[kind]}
    if kind == "image":
        field["max_bytes"] = LEGACY_IMAGE_BYTES
    return field


def type_from_legacy(name: str, kind: Kind, document: Any) -> DeviceTypeSpec:
    """The DeviceTypeSpec of an original type file called <name>.json in sensor/ or controller/."""
    legacy: LegacyType = validated(LegacyType, document, f"{kind} type file")
    names = (
        ["data"]
        if len(legacy.parameters) == 1
        else [f"data_{i}" for i in range(1, legacy.parameter_count + 1)]
    )
    fields = {field_name: _field(kind_) for field_name, kind_ in zip(names, legacy.parameters, strict=True)}
    definition: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "company": legacy.company,
        "model": legacy.model,
    }
    if kind == "sensor":
        if not fields:
            problem = "a sensor type needs at least one parameter"
            raise ValidationFailed(f"invalid sensor type {name}: {problem}", details={"parameters": problem})
        definition["fields"] = fields
    else:
        definition["state"] = fields
        definition["commands"] = {LEGACY_COMMAND: {"parameters": fields}}
    return validated(DeviceTypeSpec, definition, f"{kind} type {name!r}")


def device_from_legacy(document: Any) -> DeviceSpec:
    """The DeviceSpec of an original instance file."""
    legacy: LegacyInstance = validated(LegacyInstance, document, "instance file")
    ip, port = legacy.ip_loc.ip, str(legacy.ip_loc.port)
    labels = {"ip": ip, "port": port}
    if legacy.data_source is not None:
        labels["data_source"] = legacy.data_source
    try:
        path = legacy_path(legacy.geo_location.city, legacy.geo_location.street)
    except ValueError as exc:
        raise ValidationFailed(f"invalid geo_location: {exc}", details={"geo_location": str(exc)}) from None
    document = {
        "id": slug(f"{legacy.type}-{ip}-{port}")[:64].rstrip("-"),
        "type": legacy.type,
        "location": path,
        "labels": labels,
    }
    return validated(DeviceSpec, document, "instance file")
