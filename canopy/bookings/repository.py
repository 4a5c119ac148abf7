"""Bookings in the store: create (validated, bound, conflict-checked under a lock), list, get, cancel.

Conflicts: a booking reserves a device for each role of its app at its location (bound as an
instance would be bound); an exclusive device reserved by another active booking with an
overlapping window is unavailable to it. When every fitting device is reserved, the answer is 409
naming the conflicting booking and the next free slot of the same length (searched over the horizon).
Creation holds a lock, so two overlapping requests cannot both pass the check: a transaction-level
advisory lock on PostgreSQL, the database write lock (taken by the first statement) on SQLite.
Instances created outside bookings hold their controllers as before (device_holds); a booking whose
first window is soon counts those holds as taken too (see canopy/bookings/holds.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from canopy.apps.binding import Bound, Candidate, bind
from canopy.apps.instances import app_manifest, device_candidates, get_app
from canopy.apps.manifest import DeviceRole
from canopy.bookings.conflicts import first_overlap, next_free_slot
from canopy.bookings.holds import HELD_AHEAD, held_refusal, held_soon, outside_holds
from canopy.bookings.records import Booking, new_booking_id, spec_json, windows_between
from canopy.bookings.requests import BookingInput, Limits, validate
from canopy.bookings.windows import Window
from canopy.errors import Conflict, NotFound
from canopy.store import Store

BOOKINGS_LOCK_KEY = 0x626F6F6B696E67  # "booking" in ASCII


def lock_bookings(session: Session) -> None:
    """Serialise booking creation until the session commits (see the module docstring)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BOOKINGS_LOCK_KEY})
    else:
        session.execute(text("UPDATE bookings SET status = status WHERE 1 = 0"))


def _reserved(booking: Booking) -> dict[str, bool]:
    """Device id -> exclusive, for the devices a booking reserves."""
    bound: dict[str, dict[str, Any]] = json.loads(booking.bindings)
    return {b["device"]: bool(b.get("exclusive")) for b in bound.values()}


def _rivals(session: Session, devices: set[str], after: datetime, booking_id: str = "") -> list[Booking]:
    """Active bookings, still to end after `after`, that reserve one of `devices` exclusively."""
    if not devices:
        return []
    query = select(Booking).where(
        Booking.status == "active", Booking.last_end > after, Booking.id != booking_id
    )
    found = []
    for other in session.scalars(query.order_by(Booking.created_at)).unique():
        if any(exclusive and device in devices for device, exclusive in _reserved(other).items()):
            found.append(other)
    return found


class _Calendar:
    """Rival bookings' windows over a span, holds taken now outside bookings, and what is taken when."""

    def __init__(
        self,
        rivals: Sequence[Booking],
        after: datetime,
        until: datetime,
        held: Mapping[str, str],
        now: datetime,
    ) -> None:
        self.rivals = {r.id: (r, windows_between(r, after, until)) for r in rivals}
        self.held, self.now = dict(held), now

    def holds(self, mine: Sequence[Window]) -> dict[str, str]:
        """Device -> rival booking or holding instance id, for exclusive devices taken during `mine`."""
        held: dict[str, str] = dict(self.held) if mine and held_soon(mine[0], self.now) else {}
        for booking, theirs in self.rivals.values():
            if first_overlap(mine, theirs) is not None:
                held.update({d: booking.id for d, exclusive in _reserved(booking).items() if exclusive})
        return held

    def ends(self) -> list[datetime]:
        """Every instant something taken may become free: rival windows' ends, the end of holds' reach."""
        ends = [w.end for _, theirs in self.rivals.values() for w in theirs]
        return [*ends, self.now + HELD_AHEAD] if self.held else ends


def _fits(
    roles: Sequence[DeviceRole], location: str, devices: Sequence[Candidate], holds: Mapping[str, str]
) -> bool:
    try:
        bind(roles, location, devices, holds)
    except Conflict:
        return False
    return True


def _refuse(
    session: Session,
    request: BookingInput,
    mine: list[Window],
    roles: Sequence[DeviceRole],
    devices: Sequence[Candidate],
    calendar: _Calendar,
    limits: Limits,
    error: Conflict,
) -> Conflict:
    """The 409 for a booking whose reserved devices are taken: the conflict and the next free slot."""
    holders: dict[str, str] = dict((error.details or {}).get("holders", {}))
    rival_id = next(iter(holders.values()), next(iter(calendar.rivals), ""))

    def slot_after(wanted: Window) -> Window | None:
        """The next free slot of `wanted`'s length."""
        return next_free_slot(
            wanted,
            calendar.ends(),
            lambda s: _fits(roles, request.location, devices, calendar.holds([s])),
            wanted.start + limits.horizon,
        )

    if rival_id not in calendar.rivals:
        return held_refusal(session, holders, mine[0], slot_after(mine[0]), limits.horizon)
    rival, theirs = calendar.rivals[rival_id]
    pair = first_overlap(mine, theirs) or (mine[0], theirs[0])
    wanted = pair[0]
    slot = slot_after(wanted)
    free = (
        f"the next free slot of the same length is {slot.start.isoformat()} to {slot.end.isoformat()}"
        if slot
        else f"no free slot of that length in the next {limits.horizon.days} days"
    )
    return Conflict(
        f"booking {rival.id} ({rival.app.name} for {rival.user.name}) reserves "
        f"{', '.join(sorted(holders)) or 'the exclusive controller'} at {rival.location} from "
        f"{pair[1].start.isoformat()} to {pair[1].end.isoformat()}, overlapping your window from "
        f"{wanted.start.isoformat()}; {free}",
        details={
            "conflict": rival.id,
            "window": {"start": wanted.start.isoformat(), "end": wanted.end.isoformat()},
            "next_free": {"start": slot.start.isoformat(), "end": slot.end.isoformat()} if slot else None,
        },
    )


def _bindings_json(bound: Mapping[str, Bound]) -> str:
    return json.dumps(
        {
            r: {"device": b.device, "type": b.type, "kind": b.kind, "exclusive": b.exclusive}
            for r, b in bound.items()
        }
    )


def create_booking(
    store: Store, user_id: int, request: BookingInput, now: datetime, limits: Limits
) -> Booking:
    """Validate, reserve devices and store a booking, or raise why not (400, 404, 409, 422)."""
    mine = validate(request, now, limits)
    with store.session() as session:
        lock_bookings(session)
        app = get_app(session, request.app_id)
        roles = app_manifest(app).devices
        devices = device_candidates(session, {role.type for role in roles})
        exclusive = {d.id for d in devices for r in roles if r.exclusive and d.type == r.type}
        rivals = _rivals(session, exclusive, now)
        held = outside_holds(session, exclusive)
        calendar = _Calendar(rivals, mine[0].start, mine[-1].end + limits.horizon, held, now)
        try:
            bound = bind(roles, request.location, devices, calendar.holds(mine))
        except Conflict as exc:
            raise _refuse(session, request, mine, roles, devices, calendar, limits, exc) from exc
        kind, spec = spec_json(request.schedule)
        booking = Booking(
            id=new_booking_id(),
            user_id=user_id,
            app_id=app.id,
            location=request.location,
            kind=kind,
            spec=spec,
            timezone=request.zone.key,
            first_start=request.first,
            span_end=request.until,
            last_end=mine[-1].end,
            window_count=len(mine),
            bindings=_bindings_json(bound),
            status="active",
        )
        session.add(booking)
        session.flush()
        return booking


def get_booking(session: Session, booking_id: str) -> Booking:
    """The booking of that id, or NotFound."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(f"no booking {booking_id!r}; `canopy booking list` shows yours")
    return booking


def cancel_booking(session: Session, booking: Booking, now: datetime) -> bool:
    """Mark a booking cancelled (the scheduler stops a running window); False if it already was."""
    if booking.status == "cancelled":
        return False
    booking.status, booking.cancelled_at = "cancelled", now
    session.flush()
    return True
