"""Due times: the windows a schedule opens in a span, the window open at an instant, the next one.

Pure and DST-correct: windows are computed on the wall clock of the booking's zone, then each end is
turned into an instant by `instant_of` (a start skipped by spring-forward moves on by the gap, a
repeated time at fall-back is its first occurrence). A daily window's length is therefore wall-clock
length: 22:00-06:00 lasts 7 h across a spring-forward night and 9 h across a fall-back one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from canopy.bookings.schedule import Cron, Daily, Once, Schedule, cron_trigger, instant_of, wall_of

DST_MARGIN = timedelta(hours=3)  # widest wall-clock shift of a zone change, with room to spare


@dataclass(frozen=True, order=True)
class Window:
    """One booked window [start, end) as UTC instants."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        """How long the window is open."""
        return self.end - self.start

    def overlaps(self, other: Window) -> bool:
        """Whether the two half-open windows share an instant."""
        return self.start < other.end and other.start < self.end


def _daily(schedule: Daily, zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[Window]:
    """Daily windows whose start falls on a chosen weekday, for local dates around the span."""
    first: date = wall_of(after, zone).date() - timedelta(days=1)
    last: date = wall_of(until, zone).date()
    day = first
    while day <= last:
        if day.weekday() in schedule.days:
            opens = datetime.combine(day, schedule.opens)
            closes = datetime.combine(day, schedule.closes)
            if schedule.closes <= schedule.opens:
                closes += timedelta(days=1)
            yield Window(instant_of(opens, zone), instant_of(closes, zone))
        day += timedelta(days=1)


def _cron(schedule: Cron, zone: ZoneInfo, after: datetime, until: datetime) -> Iterator[Window]:
    """Windows at each wall-clock fire time of the expression, bounded by the span (never scans past it)."""
    begin = wall_of(after, zone) - schedule.duration - DST_MARGIN
    end_wall = wall_of(until, zone) + DST_MARGIN
    trigger = cron_trigger(schedule.expression, end_wall)
    fire = trigger.get_next_fire_time(None, begin.replace(tzinfo=UTC))
    while fire is not None:
        start = instant_of(fire.replace(tzinfo=None), zone)
        yield Window(start, start + schedule.duration)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))


def windows(schedule: Schedule, zone: ZoneInfo, after: datetime, until: datetime) -> list[Window]:
    """The windows that share an instant with [after, until), by start, each start once."""
    if isinstance(schedule, Once):
        found: Iterator[Window] = iter([Window(schedule.start, schedule.end)])
    elif isinstance(schedule, Daily):
        found = _daily(schedule, zone, after, until)
    else:
        found = _cron(schedule, zone, after, until)
    unique = {w.start: w for w in found if w.end > after and w.start < until and w.end > w.start}
    return [unique[start] for start in sorted(unique)]


def window_at(schedule: Schedule, zone: ZoneInfo, instant: datetime) -> Window | None:
    """The window open at `instant`, if any (the latest-starting one should two overlap)."""
    found = [w for w in windows(schedule, zone, instant, instant + timedelta(microseconds=1))]
    return found[-1] if found else None


def next_window(schedule: Schedule, zone: ZoneInfo, after: datetime, horizon: timedelta) -> Window | None:
    """The first window starting at or after `after`, looking no further than `horizon` ahead."""
    upcoming = (w for w in windows(schedule, zone, after, after + horizon) if w.start >= after)
    return next(upcoming, None)


def booked_windows(schedule: Schedule, zone: ZoneInfo, first: datetime, last: datetime) -> list[Window]:
    """A booking's windows: those starting in [first, last) (for a once booking, its one window)."""
    if isinstance(schedule, Once):
        return [Window(schedule.start, schedule.end)]
    return [w for w in windows(schedule, zone, first, last) if first <= w.start < last]
