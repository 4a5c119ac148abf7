"""Where an app can run: the registered locations whose devices bind every role it declares.

A location fits when `bind` (the same function that creates instances) binds every role there; it is
busy when the only fitting devices are held exclusively by other instances (bind's Conflict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from canopy.apps.binding import Candidate, bind
from canopy.apps.instances import current_holds, device_candidates
from canopy.apps.manifest import AppManifest, DeviceRole
from canopy.devices.instances import is_within
from canopy.errors import Conflict, Unprocessable, ValidationFailed


@dataclass(frozen=True)
class LocationFit:
    """The locations an app binds at now (`free`), those where its devices are held (`busy`: why)."""

    free: list[str] = field(default_factory=list)
    busy: dict[str, str] = field(default_factory=dict)
    anywhere: bool = False


def fitting_locations(
    roles: Sequence[DeviceRole], devices: Sequence[Candidate], holds: Mapping[str, str]
) -> LocationFit:
    """Every device location at which all `roles` bind (an app without roles runs anywhere)."""
    if not roles:
        return LocationFit(anywhere=True)
    wanted = {role.type for role in roles}
    useful = [device for device in devices if device.type in wanted]
    fit = LocationFit()
    for location in sorted({device.location for device in useful}):
        here = [device for device in useful if is_within(device.location, location)]
        if not wanted <= {device.type for device in here}:
            continue
        try:
            bind(roles, location, here, holds)
        except Conflict as held:
            fit.busy[location] = held.message
        except (Unprocessable, ValidationFailed):
            continue
        else:
            fit.free.append(location)
    return fit


def app_locations(session: Session, manifests: Sequence[AppManifest]) -> list[LocationFit]:
    """The locations of each app (devices and holds read once for all of them)."""
    types = {role.type for manifest in manifests for role in manifest.devices}
    devices = device_candidates(session, types) if types else []
    holds = current_holds(session)
    return [fitting_locations(manifest.devices, devices, holds) for manifest in manifests]
