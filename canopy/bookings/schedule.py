"""The three schedule forms of a booking and the parsing of their text (zones, times, days, durations).

Pure: nothing here reads a clock or the store. Wall-clock times are naive datetimes in the booking's
zone; instants are aware UTC datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from canopy.errors import ValidationFailed

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class Once:
    """One window between two instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Daily:
    """A window from `opens` to `closes` on `days` (0 = Monday); closes <= opens crosses midnight."""

    opens: time
    closes: time
    days: frozenset[int]


@dataclass(frozen=True)
class Cron:
    """A window of `duration` at every fire time of a five-field cron expression (wall clock)."""

    expression: str
    duration: timedelta


Schedule = Once | Daily | Cron


def invalid(field: str, message: str) -> ValidationFailed:
    """A 400 naming the request field that is wrong."""
    return ValidationFailed(f"{field}: {message}", details={field: "invalid"})


def parse_zone(name: str, field: str = "tz") -> ZoneInfo:
    """An IANA time zone by name (Europe/Berlin, UTC), or ValidationFailed naming the field."""
    if not name or name.startswith("/") or ".." in name:
        raise invalid(field, f"{name!r} is not an IANA time zone name like Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid(field, f"{name!r} is not an IANA time zone name like Europe/Berlin") from exc


def parse_clock(text: str, field: str) -> time:
    """'HH:MM' as a wall-clock time."""
    found = _HHMM.match(text.strip())
    if found is None:
        raise invalid(field, f"{text!r} is not a time HH:MM (00:00 to 23:59)")
    return time(int(found.group(1)), int(found.group(2)))


def parse_daily(text: str, field: str = "daily") -> tuple[time, time]:
    """'HH:MM-HH:MM' as (opens, closes); a close at or before the open means the next day."""
    opens, sep, closes = text.partition("-")
    if not sep:
        raise invalid(field, f"{text!r} is not a window HH:MM-HH:MM, e.g. 09:00-17:30 or 22:00-06:00")
    start, end = parse_clock(opens, field), parse_clock(closes, field)
    if start == end:
        raise invalid(field, f"{text!r} opens and closes at the same time; a window has a length")
    return start, end


def _day(name: str, field: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAY_NAMES or not name.strip():
        raise invalid(field, f"{name!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
    return DAY_NAMES.index(key)


def parse_days(text: str, field: str = "days") -> frozenset[int]:
    """'mon-fri', 'sat,sun', 'fri-mon' (wrapping), 'daily' or '*' as weekday numbers (0 = Monday)."""
    if text.strip().lower() in ("", "*", "daily", "all", "every"):
        return ALL_DAYS
    days: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.partition("-")
        if not sep:
            days.add(_day(first, field))
            continue
        start, end = _day(first, field), _day(last, field)
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """'30m', '1h30m', '90s', '2h', '1d' as a positive length."""
    found = _DURATION.match(text.strip().lower())
    if not text.strip() or found is None:
        raise invalid(field, f"{text!r} is not a duration like 30m, 1h30m, 90s or 2h")
    days, hours, minutes, seconds = (int(group or 0) for group in found.groups())
    length = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if length <= timedelta(0):
        raise invalid(field, "a window must last longer than 0 s")
    return length


def cron_trigger(expression: str, until_wall: datetime | None = None, field: str = "cron") -> CronTrigger:
    """APScheduler's trigger for a five-field expression, run over wall-clock times (as if they were UTC)."""
    try:
        trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise invalid(
            field, f"{expression!r} is not a cron expression 'minute hour day month weekday' ({exc})"
        ) from exc
    if until_wall is not None:
        trigger.end_date = until_wall.replace(tzinfo=UTC)
    return trigger


def instant_of(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in `zone`, by the DST rule of PEP 495 with fold=0.

    A time skipped by a spring-forward change is moved on by the gap (02:30 on Europe/Berlin's
    spring-forward day is 03:30 CEST); a time repeated by a fall-back change is its first occurrence
    (02:30 on the fall-back day is 02:30 CEST, the earlier instant).
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_of(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def parse_instant(text: str, zone: ZoneInfo, field: str) -> datetime:
    """An ISO 8601 date-time; one without an offset is a wall-clock time in `zone`."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise invalid(field, f"{text!r} is not a date-time like 2025-06-01T09:00 (ISO 8601)") from exc
    if parsed.tzinfo is None:
        return instant_of(parsed, zone)
    return parsed.astimezone(UTC)


def describe(schedule: Schedule) -> str:
    """A short human description: 'once', 'daily 22:00-06:00 mon-fri', 'cron */15 * * * * for 0:05:00'."""
    if isinstance(schedule, Once):
        return "once"
    if isinstance(schedule, Daily):
        days = ",".join(DAY_NAMES[day] for day in sorted(schedule.days))
        return f"daily {schedule.opens:%H:%M}-{schedule.closes:%H:%M} {days}"
    return f"cron {schedule.expression} for {schedule.duration}"
