"""Bookings as the API shows them: the schedule, its span, the next window and what the scheduler did."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from canopy.bookings.records import Booking, BookingWindow, schedule_of, windows_between
from canopy.bookings.schedule import describe

SHOWN_WINDOWS = 20


def window_rows(session: Session, booking_id: str, limit: int = SHOWN_WINDOWS) -> list[dict[str, Any]]:
    """The scheduler's latest records of a booking's windows, newest first."""
    query = (
        select(BookingWindow)
        .where(BookingWindow.booking_id == booking_id)
        .order_by(BookingWindow.start.desc())
        .limit(limit)
    )
    return [
        {
            "start": row.start.isoformat(),
            "end": row.end.isoformat(),
            "state": row.state,
            "outcome": row.outcome,
            "instance_id": row.instance_id,
            "detail": row.detail,
        }
        for row in session.scalars(query)
    ]


def booking_view(booking: Booking, now: datetime, session: Session | None = None) -> dict[str, Any]:
    """A booking as the API shows it; with a session, also the records of its windows."""
    upcoming = windows_between(booking, now, booking.last_end) if booking.status == "active" else []
    view: dict[str, Any] = {
        "id": booking.id,
        "user": booking.user.name,
        "app_id": booking.app_id,
        "app": booking.app.name,
        "location": booking.location,
        "kind": booking.kind,
        "schedule": describe(schedule_of(booking)),
        "spec": json.loads(booking.spec),
        "tz": booking.timezone,
        "from": booking.first_start.isoformat(),
        "until": booking.span_end.isoformat(),
        "last_end": booking.last_end.isoformat(),
        "windows": booking.window_count,
        "bindings": json.loads(booking.bindings),
        "status": booking.status,
        "next_window": (
            {"start": upcoming[0].start.isoformat(), "end": upcoming[0].end.isoformat()} if upcoming else None
        ),
        "created_at": booking.created_at.isoformat(),
        "cancelled_at": booking.cancelled_at.isoformat() if booking.cancelled_at else None,
    }
    if session is not None:
        view["window_records"] = window_rows(session, booking.id)
    return view
