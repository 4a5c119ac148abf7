"""Binding an app's device roles to devices at a location: pure, deterministic, and self-explaining.

Each role gets a device of its type at or under the location, nearest first (the fewest path segments
below the location), then by device id (a failure lists the devices elsewhere in the same order: the
deepest common path with the location first); within one instance every role gets its own device. A device
held exclusively by another instance is bound to nobody else. Explicit picks are checked the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from canopy.apps.manifest import DeviceKind, DeviceRole
from canopy.devices.instances import is_within
from canopy.errors import Conflict, Unprocessable, ValidationFailed

MAX_LISTED = 5


@dataclass(frozen=True)
class Candidate:
    """A registered device as binding sees it."""

    id: str
    type: str
    location: str
    kind: DeviceKind


@dataclass(frozen=True)
class Bound:
    """The device a role is bound to."""

    role: str
    device: str
    type: str
    kind: DeviceKind
    exclusive: bool


def _depth(path: str) -> int:
    return path.count("/") + 1


def _common_depth(path: str, location: str) -> int:
    """How many leading segments two paths share."""
    shared = 0
    for mine, theirs in zip(path.split("/"), location.split("/"), strict=False):
        if mine != theirs:
            break
        shared += 1
    return shared


def _nearest_first(found: Iterable[Candidate], location: str) -> list[Candidate]:
    """Devices nearest `location` first: deepest common path, then fewest segments below it, then id."""

    def nearness(device: Candidate) -> tuple[int, int, str]:
        common = _common_depth(device.location, location)
        return (-common, _depth(device.location) - common, device.id)

    return sorted(found, key=nearness)


def _listing(found: Sequence[Candidate]) -> str:
    """'x at a/b, y at c/d' for at most MAX_LISTED devices, then 'and N more'."""
    shown = ", ".join(f"{device.id} at {device.location}" for device in found[:MAX_LISTED])
    more = len(found) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown


def _held_by(device: str, holds: Mapping[str, str]) -> str:
    return f"{device} is held exclusively by instance {holds[device]}"


def _no_device(role: DeviceRole, location: str, devices: Sequence[Candidate]) -> Unprocessable:
    """Why no device of the role's type is at the location, with the ones elsewhere."""
    elsewhere = _nearest_first((d for d in devices if d.type == role.type), location)
    where = (
        f"{len(elsewhere)} {role.type} device{'s' if len(elsewhere) != 1 else ''} elsewhere: "
        f"{_listing(elsewhere)}"
        if elsewhere
        else f"no {role.type} device is registered at all"
    )
    return Unprocessable(
        f"no {role.type} at {location} for role {role.name!r} ({where}); choose another location "
        f"or register a {role.type} device there",
        details={"role": role.name, "type": role.type, "location": location},
    )


def _none_free(
    role: DeviceRole,
    location: str,
    here: Sequence[Candidate],
    used: Mapping[str, str],
    holds: Mapping[str, str],
) -> Conflict | Unprocessable:
    """Why every device of the role's type at the location is taken: held elsewhere or bound here."""
    details = {"role": role.name, "type": role.type, "location": location}
    held = [device.id for device in here if device.id in holds]
    if held:
        reasons = "; ".join(_held_by(device, holds) for device in held)
        return Conflict(
            f"no free {role.type} at {location} for role {role.name!r}: {reasons}; remove that instance "
            "or pick another location",
            details={**details, "holders": {device: holds[device] for device in held}},
        )
    taken = ", ".join(f"{device.id} (role {used[device.id]!r})" for device in here)
    return Unprocessable(
        f"role {role.name!r} needs another {role.type} at {location}, but every one there is bound to "
        f"another role of this instance: {taken}; register another or choose a wider location",
        details=details,
    )


def _check_pick(
    role: DeviceRole,
    device_id: str,
    location: str,
    by_id: Mapping[str, Candidate],
    used: Mapping[str, str],
    holds: Mapping[str, str],
) -> Candidate:
    """The picked device, if it has the role's type, sits at or under the location and is free."""
    device = by_id.get(device_id)
    field = {"bind": {role.name: device_id}}
    if device is None:
        raise Unprocessable(f"bind: no device {device_id!r} (for role {role.name!r})", details=field)
    if device.type != role.type:
        raise Unprocessable(
            f"bind: role {role.name!r} needs a {role.type}, but {device_id} is a {device.type}", details=field
        )
    if not is_within(device.location, location):
        raise Unprocessable(
            f"bind: {device_id} is at {device.location}, not at or under {location} (role {role.name!r})",
            details=field,
        )
    if device_id in used:
        raise Unprocessable(
            f"bind: {device_id} is picked for both {used[device_id]!r} and {role.name!r}; one device "
            "serves one role",
            details=field,
        )
    if device_id in holds:
        raise Conflict(f"bind: {_held_by(device_id, holds)}; pick another {role.type}", details=field)
    return device


def bind(
    roles: Sequence[DeviceRole],
    location: str,
    devices: Sequence[Candidate],
    holds: Mapping[str, str],
    picks: Mapping[str, str] | None = None,
) -> dict[str, Bound]:
    """Bind every role to a device at or under the normalised `location`, or explain why not.

    `holds` maps a held device id to the instance holding it; `picks` maps role names to device ids.
    Picked roles are bound first, the others in declared order. Unprocessable (422) when no device
    fits, Conflict (409, naming the holder) when the only fitting devices are held.
    """
    picks = dict(picks or {})
    declared = {role.name for role in roles}
    unknown = sorted(set(picks) - declared)
    if unknown:
        raise ValidationFailed(
            f"bind names roles the app does not declare: {', '.join(unknown)}; its roles are "
            f"{', '.join(sorted(declared)) or 'none'}",
            details={"bind": {name: "unknown role" for name in unknown}},
        )
    by_id = {device.id: device for device in devices}
    used: dict[str, str] = {}
    chosen: dict[str, Candidate] = {}
    for role in (role for role in roles if role.name in picks):
        chosen[role.name] = _check_pick(role, picks[role.name], location, by_id, used, holds)
        used[chosen[role.name].id] = role.name
    for role in (role for role in roles if role.name not in picks):
        here = [d for d in devices if d.type == role.type and is_within(d.location, location)]
        free = [d for d in here if d.id not in used and d.id not in holds]
        if not here:
            raise _no_device(role, location, devices)
        if not free:
            raise _none_free(role, location, here, used, holds)
        chosen[role.name] = _nearest_first(free, location)[0]
        used[chosen[role.name].id] = role.name
    return {
        role.name: Bound(
            role.name, chosen[role.name].id, chosen[role.name].type, chosen[role.name].kind, role.exclusive
        )
        for role in roles
    }
