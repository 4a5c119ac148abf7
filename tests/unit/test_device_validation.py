"""Readings, controller commands and device config checked against a type: validate_reading and friends."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from canopy.devices import parse_type, validate_command, validate_config, validate_reading
from canopy.devices.validation import device_problems
from canopy.errors import ValidationFailed
from tests.fixtures.device_packages.corpus import sample

THERMOMETER = parse_type(sample("types/thermometer.json"))
FAN = parse_type(sample("types/fan.json"))
GOOD = {"temperature": 21.5, "humidity": 40}


def test_a_good_reading_comes_back_normalised() -> None:
    image = b"\x89PNG fake"
    reading = {"temperature": 21, "humidity": 40, "history": [20, 20.5], "status": "ok", "snapshot": image}
    checked = validate_reading(THERMOMETER, reading)
    assert checked["temperature"] == 21.0 and isinstance(checked["temperature"], float)
    assert checked["history"] == [20.0, 20.5]
    assert checked["snapshot"] == base64.b64encode(image).decode()
    assert (
        validate_reading(THERMOMETER, {**GOOD, "snapshot": checked["snapshot"]})["snapshot"]
        == checked["snapshot"]
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"temperature": "warm"}, "temperature", "expected a number"),
        ({"temperature": True}, "temperature", "expected a number"),
        ({"temperature": math.nan}, "temperature", "finite"),
        ({"temperature": 85.01}, "temperature", "above the maximum"),
        ({"temperature": -41}, "temperature", "below the minimum"),
        ({"humidity": 4.5}, "humidity", "expected an integer"),
        ({"humidity": None}, "humidity", "got null"),
        ({"status": "broken"}, "status", "not one of"),
        ({"status": 3}, "status", "expected a string"),
        ({"history": 5}, "history", "expected a list"),
        ({"history": [1.0] * 11}, "history", "11 items"),
        ({"history": [1.0, "x"]}, "history", "item 1"),
        ({"snapshot": b"x" * 65537}, "snapshot", "over the 65536-byte limit"),
        ({"snapshot": base64.b64encode(b"x" * 65537).decode()}, "snapshot", "limit"),
        ({"snapshot": "not base64!"}, "snapshot", "not valid base64"),
        ({"snapshot": ""}, "snapshot", "empty"),
        ({"snapshot": 12}, "snapshot", "base64 text or bytes"),
        ({"pressure": 1013}, "pressure", "unknown field"),
    ],
)
def test_bad_readings_name_the_field(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_reading(THERMOMETER, {**GOOD, **change})
    assert words in caught.value.details[field], caught.value.details
    assert field in caught.value.message


def test_missing_required_fields_are_each_named() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_reading(THERMOMETER, {})
    assert caught.value.details == {"temperature": "required", "humidity": "required"}


def test_a_reading_must_be_an_object() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_reading(THERMOMETER, [21.5, 40])
    assert "(document)" in caught.value.details


def test_string_length_and_array_of_strings() -> None:
    spec = parse_type(
        {
            "name": "TAGS",
            "kind": "sensor",
            "fields": {
                "label": {"type": "string", "max_length": 3},
                "tags": {
                    "type": "array",
                    "items": "string",
                    "min_items": 1,
                    "max_length": 2,
                    "enum": ["a", "bb"],
                },
            },
        }
    )
    assert validate_reading(spec, {"label": "abc", "tags": ["a", "bb"]}) == {
        "label": "abc",
        "tags": ["a", "bb"],
    }
    for reading, field in [
        ({"label": "abcd", "tags": ["a"]}, "label"),
        ({"label": "a", "tags": []}, "tags"),
        ({"label": "a", "tags": ["c"]}, "tags"),
    ]:
        with pytest.raises(ValidationFailed) as caught:
            validate_reading(spec, reading)
        assert field in caught.value.details


def test_a_controller_reading_is_its_state() -> None:
    assert validate_reading(FAN, {"on": True, "speed": 2}) == {"on": True, "speed": 2}
    with pytest.raises(ValidationFailed) as caught:
        validate_reading(FAN, {"on": True, "speed": 9})
    assert "speed" in caught.value.details


def test_commands_are_checked_by_name_and_parameters() -> None:
    assert validate_command(FAN, "set", {"on": True, "speed": 3}) == ("set", {"on": True, "speed": 3})
    assert validate_command(FAN, None, {"on": False}) == ("set", {"on": False})
    assert validate_command(FAN, "stop", {}) == ("stop", {})
    cases: list[tuple[str | None, Any, str]] = [
        ("spin", {}, "command"),
        ("set", {"on": "yes"}, "on"),
        ("set", {"speed": 1}, "on"),
        ("set", {"on": True, "speed": 4}, "speed"),
        ("set", {"on": True, "colour": "red"}, "colour"),
        ("stop", {"now": True}, "now"),
        ("set", "on", "(document)"),
    ]
    for command, params, field in cases:
        with pytest.raises(ValidationFailed) as caught:
            validate_command(FAN, command, params)
        assert field in caught.value.details, (command, params, caught.value.details)


def test_commands_need_a_controller_and_a_default_when_unnamed() -> None:
    with pytest.raises(ValidationFailed, match="only controllers take commands"):
        validate_command(THERMOMETER, "set", {})
    two = parse_type({"name": "L", "kind": "controller", "commands": {"on": {}, "off": {}}})
    with pytest.raises(ValidationFailed, match="name a command"):
        validate_command(two, None, {})


def test_config_is_checked_and_optional_fields_may_be_left_out() -> None:
    assert validate_config(THERMOMETER, {}) == {}
    assert validate_config(THERMOMETER, {"interval_s": 5}) == {"interval_s": 5}
    with pytest.raises(ValidationFailed) as caught:
        validate_config(THERMOMETER, {"interval_s": 0})
    assert "interval_s" in caught.value.details


def test_device_problems_cover_config_and_latest_reading() -> None:
    assert device_problems(THERMOMETER, {"interval_s": 5}, GOOD) == {}
    assert device_problems(THERMOMETER, {}, None) == {}
    problems = device_problems(THERMOMETER, {"interval_s": 0}, {"temperature": 99, "humidity": 1})
    assert set(problems) == {"config.interval_s", "latest.temperature"}
