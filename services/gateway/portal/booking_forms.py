"""What the booking pages need: the book form as the REST body, its problems by field, the week view."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from canopy.bookings.records import Booking, windows_between
from canopy.bookings.schedule import DAY_NAMES, instant_of, invalid
from canopy.bookings.windows import Window
from canopy.errors import CanopyError, Conflict, ValidationFailed

KINDS = ("once", "daily", "cron")
WEEK_DAYS = 7
# A refused field of the REST body -> the field of the form that shows it, per schedule form.
SHOWN_AT = {
    "once": {"schedule": "kind", "app": "kind", "from": "start", "until": "end"},
    "daily": {"schedule": "kind", "app": "kind", "duration": "daily", "start": "from", "end": "until"},
    "cron": {"schedule": "kind", "app": "kind", "days": "cron", "start": "from", "end": "until"},
}


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA time zone this machine knows, sorted (the zone selects' options)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def _zone(name: str) -> ZoneInfo:
    """The zone of that name, UTC when it is not one (the domain then says what is wrong with it)."""
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise invalid(name, f"{text!r} is not a date like 2025-06-01") from None


def booking_body(app_id: str, form: MultiDict[str, str], now: datetime) -> dict[str, Any]:
    """The REST booking body of the book form (dates as wall-clock times in the chosen zone).

    From is a first date (today or empty: from now), until a last date (its windows included).
    """
    kind = form.get("kind", "once")
    body: dict[str, Any] = {"app": app_id, "location": form.get("location", ""), "tz": form.get("tz", "")}
    if kind == "once":
        return {**body, "start": form.get("start", ""), "end": form.get("end", "")}
    if kind not in KINDS:
        raise invalid("schedule", f"{kind!r} is not one of {', '.join(KINDS)}")
    today = now.astimezone(_zone(body["tz"])).date()
    if form.get("from", "").strip():
        first = _date(form["from"], "from")
        if first != today:
            body["from"] = f"{first.isoformat()}T00:00"
    if form.get("until", "").strip():
        body["until"] = f"{(_date(form['until'], 'until') + timedelta(days=1)).isoformat()}T00:00"
    if kind == "cron":
        return {**body, "cron": form.get("cron", ""), "duration": form.get("duration", "")}
    days = form.getlist("days")
    if not days:
        raise invalid("days", "tick at least one weekday")
    return {**body, "daily": f"{form.get('opens', '')}-{form.get('closes', '')}", "days": ",".join(days)}


def booking_problems(error: CanopyError, kind: str) -> dict[str, str]:
    """A refused booking's problem by the form field showing it (a location that does not fit: location)."""
    if not isinstance(error, ValidationFailed):
        return {"location": error.message}
    shown: dict[str, str] = {}
    for key in error.details or {"kind": ""}:
        message = error.message.removeprefix(f"{key}: ")
        shown[SHOWN_AT.get(kind, SHOWN_AT["once"]).get(str(key), str(key))] = message
    return shown


@dataclass(frozen=True)
class Clash:
    """A 409: what it says, the booking in the way, and the next free slot if any (in the viewer's zone)."""

    message: str
    booking_id: str
    next_free: Window | None


def clash_of(error: Conflict, zone: str) -> Clash:
    """The conflict and next free slot a refused booking names, the slot's times in `zone`."""
    details: Mapping[str, Any] = error.details or {}
    free = details.get("next_free")
    shown = _zone(zone)
    slot = (
        Window(
            datetime.fromisoformat(free["start"]).astimezone(shown),
            datetime.fromisoformat(free["end"]).astimezone(shown),
        )
        if free
        else None
    )
    return Clash(error.message, str(details.get("conflict", "")), slot)


def form_defaults(zone: str, now: datetime) -> dict[str, Any]:
    """The book form's values before anything is typed: the next full hour for an hour, every weekday."""
    local = now.astimezone(_zone(zone)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return {
        "kind": "once",
        "tz": zone,
        "start": f"{local:%Y-%m-%dT%H:%M}",
        "end": f"{local + timedelta(hours=1):%Y-%m-%dT%H:%M}",
        "opens": "09:00",
        "closes": "17:00",
        "days": list(DAY_NAMES),
        "from": "",
        "until": "",
        "cron": "0 9 * * mon-fri",
        "duration": "1h",
    }


def posted_values(form: MultiDict[str, str]) -> dict[str, Any]:
    """The book form's values as posted (to show them again with the problems)."""
    return {**form.to_dict(), "days": form.getlist("days")}


@dataclass(frozen=True)
class Placed:
    """A window as the week view shows it, in the viewer's zone."""

    booking: Booking
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        """'09:00-10:00', with the end's date when it ends on a later day."""
        end = f"{self.end:%H:%M}" if self.end.date() == self.start.date() else f"{self.end:%a %H:%M}"
        return f"{self.start:%H:%M}-{end}"


@dataclass
class Day:
    """One day of the week view: its date in the viewer's zone and the windows starting on it."""

    date: date
    placed: list[Placed] = field(default_factory=list)


@dataclass(frozen=True)
class Week:
    """Seven days from `first` in `zone`, the instants they span, and the weeks before and after."""

    first: date
    zone: ZoneInfo
    days: list[Day]

    @property
    def start(self) -> datetime:
        """The instant the first day begins."""
        return instant_of(datetime.combine(self.first, time()), self.zone)

    @property
    def end(self) -> datetime:
        """The instant after the last day ends."""
        return instant_of(datetime.combine(self.first + timedelta(days=WEEK_DAYS), time()), self.zone)

    @property
    def previous(self) -> date:
        """The first day of the week before."""
        return self.first - timedelta(days=WEEK_DAYS)

    @property
    def next(self) -> date:
        """The first day of the week after."""
        return self.first + timedelta(days=WEEK_DAYS)


def week_of(raw: str, zone_name: str, now: datetime) -> Week:
    """The seven days from ?week= (a date; today in the viewer's zone when absent or not a date)."""
    zone = _zone(zone_name)
    try:
        first = date.fromisoformat(raw) if raw else now.astimezone(zone).date()
    except ValueError:
        first = now.astimezone(zone).date()
    return Week(first, zone, [Day(first + timedelta(days=n)) for n in range(WEEK_DAYS)])


def place(week: Week, bookings: Sequence[Booking]) -> Week:
    """Put each booking's windows in the week (computed in the booking's zone) on the viewer's day they start.

    A window that began before the week shows on its first day.
    """
    for booking in bookings:
        for window in windows_between(booking, week.start, week.end):
            start, end = window.start.astimezone(week.zone), window.end.astimezone(week.zone)
            index = max(0, (start.date() - week.first).days)
            week.days[index].placed.append(Placed(booking, start, end))
    for day in week.days:
        day.placed.sort(key=lambda placed: (placed.start, placed.booking.id))
    return week
