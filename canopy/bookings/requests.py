"""A booking request as data: its app, location, schedule, zone and span, parsed from JSON and validated.

Pure: `now` and the limits are passed in. Validation: the end is after the start, the start is not
in the past (START_GRACE allows for clocks and typing), each window is at most the configured length,
a recurring booking runs no further than the horizon, and it opens at least one window, none of
which overlaps the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from canopy.apps.instances import parse_location
from canopy.bookings.conflicts import self_overlap
from canopy.bookings.schedule import (
    Cron,
    Daily,
    Once,
    Schedule,
    cron_trigger,
    invalid,
    parse_daily,
    parse_days,
    parse_duration,
    parse_instant,
    parse_zone,
)
from canopy.bookings.windows import Window, booked_windows
from canopy.errors import ValidationFailed

START_GRACE = timedelta(seconds=60)
MAX_WINDOWS = 2000
FORMS = "{start, end}, {daily: 'HH:MM-HH:MM', days: 'mon-fri'} or {cron, duration}"


@dataclass(frozen=True)
class Limits:
    """How long a window and how far ahead a booking may be."""

    max_length: timedelta
    horizon: timedelta
    max_windows: int = MAX_WINDOWS


@dataclass(frozen=True)
class BookingInput:
    """A parsed booking request; `first`/`until` bound the starts of a recurring booking's windows."""

    app_id: str
    location: str
    schedule: Schedule
    zone: ZoneInfo
    first: datetime
    until: datetime


def _text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(field, "must be a non-empty string")
    return value


def _schedule(body: Mapping[str, Any], zone: ZoneInfo) -> Schedule:
    """The one schedule form the body gives."""
    given = [form for form in ("start", "daily", "cron") if body.get(form) is not None]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise ValidationFailed(
            f"give exactly one schedule: {FORMS} ({found})", details={"schedule": "invalid"}
        )
    if given == ["start"]:
        start = parse_instant(_text(body, "start") or "", zone, "start")
        end_text = _text(body, "end")
        if end_text is None:
            raise invalid("end", "a once booking needs an end")
        return Once(start, parse_instant(end_text, zone, "end"))
    if given == ["daily"]:
        opens, closes = parse_daily(_text(body, "daily") or "")
        return Daily(opens, closes, parse_days(_text(body, "days") or "daily"))
    expression = _text(body, "cron") or ""
    cron_trigger(expression)
    duration = _text(body, "duration")
    if duration is None:
        raise invalid("duration", "a cron booking needs a duration like 30m")
    return Cron(expression, parse_duration(duration))


def parse_booking(body: Mapping[str, Any], default_zone: str, now: datetime, limits: Limits) -> BookingInput:
    """Read {app, location, one schedule form, tz?, from?, until?}; the zone defaults to the user's."""
    app_id = _text(body, "app")
    if app_id is None:
        raise invalid("app", "the id of the app to book is required")
    location = parse_location(body.get("location"))
    zone = parse_zone(_text(body, "tz") or default_zone)
    schedule = _schedule(body, zone)
    if isinstance(schedule, Once):
        if body.get("from") is not None or body.get("until") is not None:
            raise invalid("until", "from and until belong to daily and cron bookings")
        return BookingInput(app_id, location, schedule, zone, schedule.start, schedule.end)
    first_text, until_text = _text(body, "from"), _text(body, "until")
    first = parse_instant(first_text, zone, "from") if first_text else now
    until = parse_instant(until_text, zone, "until") if until_text else first + limits.horizon
    return BookingInput(app_id, location, schedule, zone, first, until)


def _length(window: Window) -> str:
    hours = window.length.total_seconds() / 3600
    return f"{hours:.2f} h"


def validate(booking: BookingInput, now: datetime, limits: Limits) -> list[Window]:
    """The booking's windows, or ValidationFailed saying which rule it breaks."""
    if booking.until <= booking.first:
        field = "end" if isinstance(booking.schedule, Once) else "until"
        raise invalid(field, f"must be after the start ({booking.first.isoformat()})")
    if booking.first < now - START_GRACE:
        field = "start" if isinstance(booking.schedule, Once) else "from"
        raise invalid(field, f"{booking.first.isoformat()} is in the past (now is {now.isoformat()})")
    if not isinstance(booking.schedule, Once) and booking.until - booking.first > limits.horizon:
        raise invalid("until", f"a recurring booking may run at most {limits.horizon.days} days ahead")
    if booking.first - now > limits.horizon:
        raise invalid("start", f"bookings open at most {limits.horizon.days} days ahead")
    found = booked_windows(booking.schedule, booking.zone, booking.first, booking.until)
    if not found:
        raise invalid(
            "cron" if isinstance(booking.schedule, Cron) else "days",
            f"the schedule opens no window between {booking.first.isoformat()} and "
            f"{booking.until.isoformat()}",
        )
    if len(found) > limits.max_windows:
        raise invalid("until", f"{len(found)} windows; at most {limits.max_windows}: book a shorter span")
    longest = max(found, key=lambda w: w.length)
    if longest.length > limits.max_length:
        raise invalid(
            "end" if isinstance(booking.schedule, Once) else "duration",
            f"a window lasts at most {limits.max_length.total_seconds() / 3600:g} h; "
            f"the one from {longest.start.isoformat()} lasts {_length(longest)}",
        )
    overlapping = self_overlap(found)
    if overlapping is not None:
        raise invalid(
            "duration",
            f"the window at {overlapping[0].start.isoformat()} lasts until after the next one opens "
            f"({overlapping[1].start.isoformat()}); make the duration shorter than the interval",
        )
    return found
