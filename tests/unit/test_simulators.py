"""Simulators: seeded generators, the turbine failure trajectory, PNG frames, controllers and scheduling."""

from __future__ import annotations

import json
import random
import zlib

import pytest

from canopy.devices.schema import parse_type
from canopy.devices.validation import validate_command, validate_reading
from simulators import TYPES_DIR
from simulators.config import parse_config
from simulators.controllers import INITIAL_STATE, CommandError, Controller
from simulators.generators import GENERATORS, failure_progress, turbine_fan
from simulators.images import PNG_SIGNATURE, encode_png, frame, size_of
from simulators.runner import due, make_device, seconds_to_next

TYPES = {path.stem: parse_type(json.loads(path.read_text())) for path in TYPES_DIR.glob("*.json")}


def test_every_shipped_type_parses_and_every_simulator_has_one() -> None:
    assert set(GENERATORS) | set(INITIAL_STATE) == set(TYPES)
    assert {TYPES[name].kind for name in INITIAL_STATE} == {"controller"}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generated_readings_fit_their_type_and_repeat_with_the_seed(name: str) -> None:
    options = {"fail_at": 5, "fail_over": 10}
    first = [GENERATORS[name](random.Random(3), t, n, options) for n, t in enumerate((0.0, 7.0, 60.0))]
    again = [GENERATORS[name](random.Random(3), t, n, options) for n, t in enumerate((0.0, 7.0, 60.0))]
    assert first == again
    for reading in first:
        validate_reading(TYPES[name], reading)


def test_a_healthy_fan_runs_near_600_rpm_and_a_failing_one_falls_towards_400() -> None:
    rng = random.Random(1)
    healthy = [turbine_fan(rng, t, 0, {}) for t in range(200)]
    assert 590 < sum(r["rpm"] for r in healthy) / 200 < 610
    failing = {"fail_at": 100, "fail_over": 50}
    before, after = turbine_fan(rng, 50, 0, failing), turbine_fan(rng, 400, 0, failing)
    assert after["rpm"] < 430 < 570 < before["rpm"]
    for name in ("vibration", "temperature", "sound"):
        assert after[name] > before[name]
    assert [failure_progress(t, failing) for t in (0, 100, 125, 150, 999)] == [0, 0, 0.5, 1, 1]
    assert failure_progress(1e9, {}) == 0


def test_frames_are_valid_pngs_that_change() -> None:
    png = frame(3, 40, 30)
    assert png.startswith(PNG_SIGNATURE) and size_of(png) == (40, 30)
    idat = png.index(b"IDAT")
    length = int.from_bytes(png[idat - 4 : idat], "big")
    assert len(zlib.decompress(png[idat + 4 : idat + 4 + length])) == 30 * (1 + 40 * 3)
    assert frame(3, 40, 30) == png != frame(4, 40, 30)
    with pytest.raises(ValueError):
        encode_png(2, 2, [b"\x00" * 6])


@pytest.mark.parametrize("name", sorted(INITIAL_STATE))
def test_controllers_report_a_state_that_fits_their_type(name: str) -> None:
    validate_reading(TYPES[name], Controller(name).state)


def test_controllers_keep_and_change_real_state() -> None:
    fan = Controller("FAN")
    assert fan.apply("set", {"on": True}) == {"on": True, "speed": 50}
    assert fan.apply("set", {"speed": 80}) == {"on": True, "speed": 80}
    assert fan.apply("set", {"on": False}) == {"on": False, "speed": 0}
    buzzer = Controller("BUZZER")
    buzzer.apply("beep", {"times": 3})
    assert buzzer.apply("beep", {}) == {"beeps": 4}
    assert Controller("DISPLAY").apply("show", {"text": "Sun"}) == {"text": "Sun"}
    with pytest.raises(CommandError):
        Controller("AC").apply("set", {"colour": "red"})
    with pytest.raises(ValueError, match="no simulated controller"):
        Controller("TOASTER")


def test_commands_are_checked_against_the_shipped_types() -> None:
    assert validate_command(TYPES["SPRINKLER"], None, {"on": True, "minutes": 5}) == (
        "set",
        {"on": True, "minutes": 5},
    )


def test_devices_fall_due_at_their_own_rate() -> None:
    config = parse_config(
        {
            "devices": [
                {"id": "a", "type": "TEMP", "token": "t", "rate": 2},
                {"id": "b", "type": "FAN", "token": "t", "rate": 0, "transport": "kafka"},
            ]
        }
    )
    devices = [make_device(device, started=100.0) for device in config.devices]
    sent = 0
    now = 100.0
    while now < 105.0:
        sent += len(due(devices, now))
        now += seconds_to_next(devices, now) or 0.01
    assert sent == 10
    assert seconds_to_next(devices[1:], 0.0) == 0.5


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"devices": []}, "devices"),
        ({"devices": [{"id": "a", "type": "KETTLE", "token": "t"}]}, "no simulator for type"),
        ({"devices": [{"id": "a", "type": "FAN", "token": "t", "transport": "http"}]}, "cannot receive"),
        ({"devices": [{"id": "a", "type": "TEMP", "token": "t", "rate": -1}]}, "rate"),
        ({"devices": [{"id": "a", "type": "TEMP"}]}, "token"),
    ],
)
def test_bad_configs_are_refused_with_the_field(document: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_config(document)
