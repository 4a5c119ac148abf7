"""Binding app roles to devices: ties, locations under locations, exclusivity, picks and explanations."""

from __future__ import annotations

import pytest

from canopy.apps.binding import Candidate, bind
from canopy.apps.manifest import DeviceRole
from canopy.errors import Conflict, Unprocessable, ValidationFailed

ROOM = "hyderabad/gachibowli/lab/room-1"
FAN = DeviceRole(name="fan", type="FAN")
TEMP = DeviceRole(name="temp", type="TEMP")
BUZZER = DeviceRole(name="buzzer", type="BUZZER", kind="controller", exclusive=True)


def device(device_id: str, type_name: str, location: str, kind: str = "sensor") -> Candidate:
    """A candidate device."""
    return Candidate(device_id, type_name, location, kind)  # type: ignore[arg-type]


def test_nearest_location_wins_then_device_id() -> None:
    found = [
        device("fan-a", "FAN", f"{ROOM}/rack-1/shelf-2"),
        device("fan-z", "FAN", f"{ROOM}/rack-2"),
        device("fan-y", "FAN", f"{ROOM}/rack-1"),
    ]
    assert bind([FAN], ROOM, found, {})["fan"].device == "fan-y"
    found.append(device("fan-q", "FAN", ROOM))
    assert bind([FAN], ROOM, found, {})["fan"].device == "fan-q"
    assert bind([FAN], ROOM, list(reversed(found)), {})["fan"].device == "fan-q"


def test_locations_under_locations_count_and_siblings_do_not() -> None:
    found = [
        device("fan-1", "FAN", "hyderabad/gachibowli/lab/room-10"),
        device("fan-2", "FAN", f"{ROOM}/a/b"),
    ]
    assert bind([FAN], ROOM, found, {})["fan"].device == "fan-2"
    assert bind([FAN], "hyderabad", found, {})["fan"].device == "fan-1"  # room-10 is nearer than room-1/a/b
    with pytest.raises(Unprocessable, match="2 FAN devices elsewhere"):  # 'room' is no prefix of 'room-1'
        bind([FAN], "hyderabad/gachibowli/lab/room", found, {})


def test_two_roles_of_one_type_get_two_devices() -> None:
    roles = [DeviceRole(name="left", type="FAN"), DeviceRole(name="right", type="FAN")]
    found = [device("fan-2", "FAN", ROOM), device("fan-1", "FAN", ROOM)]
    bound = bind(roles, ROOM, found, {})
    assert (bound["left"].device, bound["right"].device) == ("fan-1", "fan-2")
    with pytest.raises(Unprocessable, match=r"needs another FAN .* fan-2 \(role 'left'\)"):
        bind(roles, ROOM, found[:1], {})


def test_a_missing_type_lists_the_devices_elsewhere() -> None:
    found = [device("x", "FAN", "a/b"), device("y", "FAN", "c/d"), device("t", "TEMP", ROOM)]
    with pytest.raises(Unprocessable) as caught:
        bind([TEMP, FAN], ROOM, found, {})
    assert str(caught.value).startswith(
        f"no FAN at {ROOM} for role 'fan' (2 FAN devices elsewhere: x at a/b, y at c/d)"
    )
    assert caught.value.status == 422
    with pytest.raises(Unprocessable, match="no PUMP device is registered at all"):
        bind([DeviceRole(name="pump", type="PUMP")], ROOM, found, {})


def test_a_long_list_elsewhere_is_cut() -> None:
    found = [device(f"fan-{n}", "FAN", f"far/{n}") for n in range(8)]
    with pytest.raises(Unprocessable, match=r"8 FAN devices elsewhere: .*fan-4 at far/4 and 3 more"):
        bind([FAN], ROOM, found, {})


def test_held_devices_are_skipped_and_a_fully_held_type_names_the_holder() -> None:
    found = [
        device("bz-1", "BUZZER", ROOM, "controller"),
        device("bz-2", "BUZZER", f"{ROOM}/x", "controller"),
    ]
    bound = bind([BUZZER], ROOM, found, {"bz-1": "i0001"})
    assert bound["buzzer"].device == "bz-2" and bound["buzzer"].exclusive
    with pytest.raises(Conflict) as caught:
        bind([BUZZER], ROOM, found, {"bz-1": "i0001", "bz-2": "i0002"})
    assert "bz-1 is held exclusively by instance i0001" in str(caught.value)
    assert "bz-2 is held exclusively by instance i0002" in str(caught.value)
    assert caught.value.status == 409
    shared = DeviceRole(name="buzzer", type="BUZZER", kind="controller")
    with pytest.raises(Conflict, match="i0001"):
        bind([shared], ROOM, found[:1], {"bz-1": "i0001"})


def test_explicit_picks_are_checked() -> None:
    found = [
        device("fan-1", "FAN", ROOM),
        device("fan-2", "FAN", f"{ROOM}/corner"),
        device("fan-9", "FAN", "elsewhere"),
        device("t-1", "TEMP", ROOM),
        device("bz-1", "BUZZER", ROOM, "controller"),
    ]
    assert bind([FAN], ROOM, found, {}, {"fan": "fan-2"})["fan"].device == "fan-2"
    cases = [
        ({"fan": "nope"}, Unprocessable, "no device 'nope'"),
        ({"fan": "t-1"}, Unprocessable, "needs a FAN, but t-1 is a TEMP"),
        ({"fan": "fan-9"}, Unprocessable, f"fan-9 is at elsewhere, not at or under {ROOM}"),
        ({"ghost": "fan-1"}, ValidationFailed, "does not declare: ghost"),
    ]
    for picks, error, message in cases:
        with pytest.raises(error, match=message):
            bind([FAN], ROOM, found, {}, picks)
    with pytest.raises(Conflict, match="bz-1 is held exclusively by instance i0042"):
        bind([BUZZER], ROOM, found, {"bz-1": "i0042"}, {"buzzer": "bz-1"})
    two = [DeviceRole(name="a", type="FAN"), DeviceRole(name="b", type="FAN")]
    with pytest.raises(Unprocessable, match="fan-1 is picked for both 'a' and 'b'"):
        bind(two, ROOM, found, {}, {"a": "fan-1", "b": "fan-1"})


def test_a_pick_is_bound_before_automatic_roles_choose() -> None:
    two = [DeviceRole(name="a", type="FAN"), DeviceRole(name="b", type="FAN")]
    found = [device("fan-1", "FAN", ROOM), device("fan-2", "FAN", ROOM)]
    bound = bind(two, ROOM, found, {}, {"b": "fan-1"})
    assert (bound["a"].device, bound["b"].device) == ("fan-2", "fan-1")
    assert list(bound) == ["a", "b"]


def test_binding_is_deterministic_whatever_the_input_order() -> None:
    found = [device(f"fan-{n}", "FAN", f"{ROOM}/{n % 3}") for n in range(9)]
    roles = [DeviceRole(name=f"r{n}", type="FAN") for n in range(4)]
    first = bind(roles, ROOM, found, {})
    assert bind(roles, ROOM, list(reversed(found)), {}) == first
    assert [first[f"r{n}"].device for n in range(4)] == ["fan-0", "fan-1", "fan-2", "fan-3"]
