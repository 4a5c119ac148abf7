"""The stored bookings (written by the gateway) and the state of their windows (written by the scheduler)."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from canopy.apps.records import AppRecord
from canopy.bookings.schedule import Cron, Daily, Once, Schedule
from canopy.bookings.windows import Window, booked_windows, windows
from canopy.store.models import Base, User, utcnow

BOOKING_ID_PREFIX = "b"


def new_booking_id() -> str:
    """A fresh public booking id: 'b' and 14 hex digits."""
    return f"{BOOKING_ID_PREFIX}{secrets.token_hex(7)}"


class Booking(Base):
    """An end user's booking of an app at a location: its schedule, zone, span and the devices it reserves.

    `spec` holds the schedule as JSON; its windows start in [first_start, span_end) and the last one
    ends at `last_end`; `bindings`
    maps each role to the device reserved for it (exclusive ones may not be booked twice at once).
    """

    __tablename__ = "bookings"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    location: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))
    spec: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))
    first_start: Mapped[datetime]
    span_end: Mapped[datetime]
    last_end: Mapped[datetime] = mapped_column(index=True)
    window_count: Mapped[int] = mapped_column(Integer)
    bindings: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")
    app: Mapped[AppRecord] = relationship(lazy="joined")


class BookingWindow(Base):
    """What the scheduler did with one window of a booking (absent: nothing yet)."""

    __tablename__ = "booking_windows"

    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    start: Mapped[datetime] = mapped_column(primary_key=True)
    end: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16), default="")
    instance_id: Mapped[str | None] = mapped_column(String(16), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def spec_json(schedule: Schedule) -> tuple[str, str]:
    """(kind, JSON spec) to store a schedule."""
    if isinstance(schedule, Once):
        return "once", json.dumps({"start": schedule.start.isoformat(), "end": schedule.end.isoformat()})
    if isinstance(schedule, Daily):
        spec = {"opens": f"{schedule.opens:%H:%M}", "closes": f"{schedule.closes:%H:%M}"}
        return "daily", json.dumps({**spec, "days": sorted(schedule.days)})
    return "cron", json.dumps({"cron": schedule.expression, "seconds": schedule.duration.total_seconds()})


def schedule_of(booking: Booking) -> Schedule:
    """The schedule a stored booking holds."""
    spec = json.loads(booking.spec)
    if booking.kind == "once":
        return Once(datetime.fromisoformat(spec["start"]), datetime.fromisoformat(spec["end"]))
    if booking.kind == "daily":
        return Daily(
            time.fromisoformat(spec["opens"]), time.fromisoformat(spec["closes"]), frozenset(spec["days"])
        )
    return Cron(spec["cron"], timedelta(seconds=spec["seconds"]))


def windows_of(booking: Booking) -> list[Window]:
    """Every window of a stored booking, by start."""
    zone = ZoneInfo(booking.timezone)
    return booked_windows(schedule_of(booking), zone, booking.first_start, booking.span_end)


def windows_between(booking: Booking, after: datetime, until: datetime) -> list[Window]:
    """The windows of a stored booking that share an instant with [after, until), by start."""
    schedule = schedule_of(booking)
    if isinstance(schedule, Once):
        window = Window(schedule.start, schedule.end)
        return [window] if window.end > after and window.start < until else []
    begin, end = max(after, booking.first_start), min(until, booking.span_end)
    if begin >= end:
        return []
    found = windows(schedule, ZoneInfo(booking.timezone), begin, end)
    return [w for w in found if booking.first_start <= w.start < booking.span_end]
