"""Device type definitions: the new JSON format, its refusals, and the original platform's type files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canopy.devices import DeviceTypeSpec, parse_type, type_from_legacy
from canopy.devices.legacy import LEGACY_IMAGE_BYTES
from canopy.errors import ValidationFailed
from tests.fixtures.device_packages.corpus import LEGACY_TYPES, sample


def _sensor(**fields: Any) -> dict[str, Any]:
    return {"name": "S", "kind": "sensor", "fields": fields}


def test_the_sample_types_parse_and_round_trip() -> None:
    for name in ("types/thermometer.json", "types/fan.json"):
        spec = parse_type(sample(name))
        assert parse_type(spec.to_json()) == spec
    fan = parse_type(sample("types/fan.json"))
    assert fan.kind == "controller" and fan.default_command_name == "set"
    assert set(fan.reported) == {"on", "speed"}


def test_a_single_command_is_the_default() -> None:
    spec = parse_type({"name": "L", "kind": "controller", "commands": {"toggle": {}}})
    assert spec.default_command_name == "toggle"
    two = parse_type({"name": "L", "kind": "controller", "commands": {"on": {}, "off": {}}})
    assert two.default_command_name is None


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"kind": "sensor", "fields": {"t": {"type": "int"}}}, "name"),
        ({**_sensor(t={"type": "int"}), "name": "bad name"}, "name"),
        ({**_sensor(t={"type": "int"}), "kind": "gizmo"}, "kind"),
        (_sensor(), "(document)"),
        (_sensor(t={"type": "complex"}), "fields.t"),
        (_sensor(t={"type": "int", "minimum": 5, "maximum": 1}), "fields.t"),
        (_sensor(t={"type": "int", "max_length": 3}), "fields.t.max_length"),
        (_sensor(t={"type": "string", "max_length": 0}), "fields.t.max_length"),
        (_sensor(t={"type": "string", "enum": []}), "fields.t.enum"),
        (_sensor(t={"type": "image", "max_bytes": 100 * 1024 * 1024}), "fields.t.max_bytes"),
        (_sensor(t={"type": "array"}), "fields.t.items"),
        (_sensor(t={"type": "array", "items": "image"}), "fields.t.items"),
        (_sensor(t={"type": "array", "items": "int", "min_items": 5, "max_items": 2}), "fields.t"),
        (_sensor(t={"type": "array", "items": "int", "enum": ["a"]}), "fields.t"),
        (_sensor(t={"type": "array", "items": "bool", "minimum": 0}), "fields.t"),
        (_sensor(**{"9lives": {"type": "int"}}), "fields"),
        ({**_sensor(t={"type": "int"}), "commands": {"x": {}}}, "(document)"),
        ({**_sensor(t={"type": "int"}), "colour": "red"}, "colour"),
        ({"name": "C", "kind": "controller", "commands": {}}, "(document)"),
        ({"name": "C", "kind": "controller", "commands": {"a": {}}, "default_command": "b"}, "(document)"),
        (
            {"name": "C", "kind": "controller", "commands": {"a": {"parameters": {"p": {}}}}},
            "commands.a.parameters.p",
        ),
        ("not an object", "(document)"),
    ],
)
def test_bad_definitions_name_the_field(document: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_type(document)
    assert field in caught.value.details, caught.value.details
    assert caught.value.status == 400


def test_a_field_named_like_a_type_keeps_its_name_in_errors() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_type(_sensor(int={"type": "int", "minimum": "x"}))
    assert "fields.int.minimum" in caught.value.details


@pytest.mark.parametrize("name", sorted(LEGACY_TYPES))
def test_every_original_type_file_maps(name: str) -> None:
    folder, file = name.split("/")
    kind = "sensor" if folder == "sensor" else "controller"
    document = json.loads(LEGACY_TYPES[name])
    spec = type_from_legacy(file.removesuffix(".json"), kind, document)
    assert isinstance(spec, DeviceTypeSpec)
    assert spec.name == file.removesuffix(".json") and spec.kind == kind
    assert spec.company == document["company"] and spec.model == document["model"]
    assert len(spec.reported) == document["parameter_count"]
    if kind == "controller":
        assert spec.default_command_name == "set"
        assert spec.commands["set"].parameters == spec.state


def test_legacy_parameters_map_to_data_fields() -> None:
    one = type_from_legacy(
        "T", "sensor", {"company": "c", "model": "m", "parameter_count": 1, "parameters": ["int"]}
    )
    assert list(one.fields) == ["data"] and one.fields["data"].type == "int"
    many = type_from_legacy(
        "M",
        "sensor",
        {"company": "c", "model": "m", "parameter_count": 3, "parameters": ["float", "boolean", "image"]},
    )
    assert [(name, f.type) for name, f in many.fields.items()] == [
        ("data_1", "float"),
        ("data_2", "bool"),
        ("data_3", "image"),
    ]
    image = many.fields["data_3"]
    assert image.type == "image" and image.max_bytes == LEGACY_IMAGE_BYTES


def test_legacy_files_may_carry_extra_keys_as_the_original_allowed() -> None:
    document = {"company": "c", "model": "m", "parameter_count": 1, "parameters": ["int"], "device": "SENSOR"}
    assert type_from_legacy("T", "sensor", document).fields["data"].type == "int"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"model": "m", "parameter_count": 1, "parameters": ["int"]}, "company"),
        ({"company": "c", "model": "m", "parameter_count": 1, "parameters": ["double"]}, "parameters.0"),
        ({"company": "c", "model": "m", "parameter_count": 2, "parameters": ["int"]}, "parameters"),
        ({"company": "c", "model": "m", "parameter_count": -1, "parameters": []}, "parameter_count"),
        ({"company": "c", "model": "m", "parameter_count": 0, "parameters": []}, "parameters"),
    ],
)
def test_bad_legacy_type_files_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        type_from_legacy("T", "sensor", document)
    assert field in caught.value.details, caught.value.details


def test_a_legacy_file_name_must_be_a_type_name() -> None:
    with pytest.raises(ValidationFailed) as caught:
        type_from_legacy("bad name", "sensor", json.loads(LEGACY_TYPES["sensor/TEMP.json"]))
    assert "name" in caught.value.details
