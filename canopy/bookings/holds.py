"""Controllers held now by app instances run outside bookings: a booking's windows that are soon avoid them.

An instance started by hand holds its exclusive controllers (device_holds) until it is removed, for an
unknown time; a window opening while it holds one could never bind and would end up skipped. So a
booking whose first window starts within HELD_AHEAD counts those holds as taken: it binds to another
device of the type at the location, or gets 409 naming the instance. Instances of booked windows, even
ended ones still letting go of their devices, are left to the bookings' calendar.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from canopy.apps.records import AppInstance, DeviceHold
from canopy.bookings.records import BookingWindow
from canopy.bookings.windows import Window
from canopy.errors import Conflict

HELD_AHEAD = timedelta(minutes=30)


def outside_holds(session: Session, devices: set[str]) -> dict[str, str]:
    """Device -> holding instance, for those of `devices` held by instances no booked window runs."""
    if not devices:
        return {}
    booked = select(BookingWindow.instance_id).where(BookingWindow.instance_id.is_not(None))
    query = select(DeviceHold.device_id, DeviceHold.instance_id).where(
        DeviceHold.device_id.in_(sorted(devices)), DeviceHold.instance_id.not_in(booked)
    )
    return {row[0]: row[1] for row in session.execute(query)}


def held_soon(window: Window, now: datetime) -> bool:
    """Whether holds taken now still count for a window (it starts within HELD_AHEAD)."""
    return window.start < now + HELD_AHEAD


def held_refusal(
    session: Session, holders: Mapping[str, str], wanted: Window, slot: Window | None, horizon: timedelta
) -> Conflict:
    """The 409 for a soon window whose controller an instance outside bookings holds."""
    device, instance_id = next(iter(holders.items()))
    instance = session.get(AppInstance, instance_id)
    owner = instance.owner.name if instance is not None and instance.owner is not None else "nobody"
    app = instance.app.name if instance is not None else "an app"
    free = (
        f"the next slot free of bookings, from {HELD_AHEAD.seconds // 60} minutes ahead, is "
        f"{slot.start.isoformat()} to {slot.end.isoformat()}"
        if slot
        else f"no slot of that length is free of bookings in the next {horizon.days} days"
    )
    return Conflict(
        f"{device} is held now by app instance {instance_id} ({app} for {owner}), started outside "
        f"bookings, and your window starts at {wanted.start.isoformat()}; stop and remove that instance "
        f"first (`canopy app stop {instance_id}`), or book later: {free}",
        details={
            "conflict": instance_id,
            "device": device,
            "window": {"start": wanted.start.isoformat(), "end": wanted.end.isoformat()},
            "next_free": {"start": slot.start.isoformat(), "end": slot.end.isoformat()} if slot else None,
        },
    )
