"""The text of each mail the notifier sends (pure: no I/O, times rendered in the user's time zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from canopy.contracts.bookings import BookingEvent
from canopy.mail.addresses import one_line

MAX_AGE = timedelta(days=1)  # a request or event older than this is recorded, not mailed


@dataclass(frozen=True)
class Text:
    """Subject and body of one mail."""

    subject: str
    body: str


def zone(name: str | None) -> ZoneInfo:
    """The user's IANA time zone, UTC when unset or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as the user reads it: 2025-03-30 02:30 CEST."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def window(event: BookingEvent, tz: ZoneInfo) -> str:
    """The booked window, e.g. 2025-03-30 09:00 CEST to 2025-03-30 10:00 CEST."""
    return f"{when(event.window_start, tz)} to {when(event.window_end, tz)}"


def booking_text(event: BookingEvent, user: str, timezone: str | None) -> Text:
    """The mail telling `user` what happened to a window of their booking."""
    tz = zone(timezone)
    app, location = one_line(event.app_name), one_line(event.location)
    lines = [f"Hello {user},", ""]
    if event.kind == "started":
        subject = f"{app} is running at {location}"
        lines += [f"{app}, which you booked at {location}, has started.", ""]
        lines += [f"Open it: {event.url}", ""] if event.url else []
        lines.append(f"Your window: {window(event, tz)}; it stops at the end of the window.")
    elif event.kind == "failed":
        subject = f"{app} at {location} could not start"
        lines += [f"{app}, which you booked at {location} for {window(event, tz)}, failed."]
    elif event.kind == "stopped":
        subject = f"{app} at {location} has stopped"
        lines += [f"{app}, which you booked at {location} for {window(event, tz)}, has stopped."]
    elif event.kind == "cancelled":
        subject = f"Your booking of {app} at {location} is cancelled"
        lines += [f"Your booking of {app} at {location} for {window(event, tz)} is cancelled."]
    else:
        subject = f"Your booking of {app} at {location} was skipped"
        lines += [
            f"The window {window(event, tz)} of your booking of {app} at {location} was missed: "
            "the app did not run in it."
        ]
    if event.detail:
        lines += ["", f"Details: {event.detail}"]
    lines += [
        "",
        f"Booking {event.booking_id}" + (f", instance {event.instance_id}" if event.instance_id else ""),
    ]
    return Text(subject, "\n".join(lines) + "\n")


def request_body(body: str, app_id: str, instance_id: str) -> str:
    """An app's message, with a footer saying which app instance sent it."""
    return f"{body.rstrip()}\n\n--\nSent by app {app_id} (instance {instance_id}) on Canopy.\n"


def stale(at: datetime, now: datetime) -> bool:
    """Whether a request or event made at `at` is too old to mail at `now` (e.g. replayed after days)."""
    return now - at > MAX_AGE
