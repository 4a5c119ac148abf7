"""Booking validation, conflicts with the next free slot, and the scheduler's plan at explicit instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canopy.bookings.conflicts import first_overlap, next_free_slot, self_overlap
from canopy.bookings.plan import RETRY, WindowState, next_due, plan
from canopy.bookings.requests import Limits, parse_booking, validate
from canopy.bookings.windows import Window
from canopy.errors import ValidationFailed

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # a Monday
LIMITS = Limits(max_length=timedelta(hours=24), horizon=timedelta(days=31))
LEAD = timedelta(seconds=60)


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    return datetime(2025, 6, day, hour, minute, tzinfo=UTC)


def booking(**fields: Any) -> list[Window]:
    body = {"app": "a1", "location": "hyd/lab", **fields}
    return validate(parse_booking(body, "UTC", NOW, LIMITS), NOW, LIMITS)


def test_valid_forms_give_their_windows() -> None:
    assert booking(start="2025-06-02T09:00", end="2025-06-02T10:00") == [Window(at(9), at(10))]
    daily = booking(daily="22:00-06:00", days="mon-fri", until="2025-06-09T00:00")
    assert [w.start.day for w in daily] == [2, 3, 4, 5, 6]
    assert daily[0] == Window(at(22), at(6, day=3))
    cron = booking(cron="0 */6 * * *", duration="30m", tz="Europe/Berlin", until="2025-06-03T00:00")
    assert [w.start.hour for w in cron] == [10, 16]  # 12:00 and 18:00 Berlin (00:00/06:00 are past/over)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"start": "2025-06-02T10:00", "end": "2025-06-02T09:00"}, "end"),
        ({"start": "2025-06-01T10:00", "end": "2025-06-01T11:00"}, "start"),
        ({"start": "2025-06-02T09:00", "end": "2025-06-03T10:00"}, "end"),
        ({"daily": "09:00-10:00", "until": "2025-09-01T00:00"}, "until"),
        ({"cron": "0 9 30 2 *", "duration": "10m"}, "cron"),
        ({"cron": "*/10 * * * *", "duration": "15m", "until": "2025-06-02T12:00"}, "duration"),
        ({"cron": "not a cron", "duration": "15m"}, "cron"),
        ({"start": "2025-06-02T09:00", "end": "2025-06-02T10:00", "daily": "09:00-10:00"}, "schedule"),
        ({"daily": "09:00-09:00"}, "daily"),
        ({"start": "2025-06-02T09:00", "end": "2025-06-02T10:00", "tz": "Nowhere/Town"}, "tz"),
    ],
)
def test_bad_bookings_are_refused_naming_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        booking(**fields)
    assert field in (refused.value.details or {}), refused.value.message


def test_overlaps_and_the_next_free_slot() -> None:
    mine = [Window(at(9), at(10))]
    theirs = [Window(at(8), at(9)), Window(at(9, 30), at(11)), Window(at(11, 30), at(12))]
    assert first_overlap(mine, theirs) == (mine[0], theirs[1])
    assert first_overlap([Window(at(11), at(11, 30))], theirs) is None  # touching ends do not overlap
    free = lambda slot: first_overlap([slot], theirs) is None  # noqa: E731
    slot = next_free_slot(mine[0], [w.end for w in theirs], free, at(23))
    assert slot == Window(at(12), at(13))  # 11:00-12:00 would hit 11:30
    assert next_free_slot(mine[0], [w.end for w in theirs], free, at(12, 30)) is None
    assert self_overlap([Window(at(9), at(10)), Window(at(9, 30), at(10, 30))]) is not None


def state(kind: str, outcome: str = "", instance: str | None = "i1", updated: datetime = NOW) -> WindowState:
    return WindowState(kind, outcome, instance, updated)  # type: ignore[arg-type]


def kinds(
    windows: list[Window], states: dict[datetime, WindowState], now: datetime, cancelled: bool = False
) -> list[str]:
    return [a.kind for a in plan(windows, states, now, LEAD, cancelled)]


def test_a_window_is_prepared_ahead_started_at_its_instant_and_stopped_at_its_end() -> None:
    window = [Window(at(9), at(10))]
    assert kinds(window, {}, at(8, 58)) == []
    assert next_due(window, {}, at(8, 58), LEAD, False) == at(8, 59)
    assert kinds(window, {}, at(8, 59)) == ["prepare"]
    prepared = {at(9): state("prepared")}
    assert next_due(window, prepared, at(8, 59), LEAD, False) == at(9)
    assert kinds(window, prepared, at(9)) == ["start"]
    running = {at(9): state("running")}
    assert kinds(window, running, at(9, 30)) == []  # after a restart mid-window: it keeps running
    assert next_due(window, running, at(9, 30), LEAD, False) == at(10)
    assert kinds(window, running, at(10)) == ["stop"]
    assert kinds(window, {at(9): state("stopping", "stopped")}, at(10)) == ["unbind"]
    assert next_due(window, {at(9): state("ended", "stopped")}, at(10), LEAD, False) is None


def test_misfires_start_late_while_open_and_skip_once_over() -> None:
    window = [Window(at(9), at(10))]
    assert kinds(window, {}, at(9, 40)) == ["start"]  # the scheduler was down at 09:00
    assert kinds(window, {}, at(10, 5)) == ["skip"]
    assert kinds(window, {at(9): state("prepared")}, at(10, 5)) == ["skip"]


def test_blocked_windows_retry_and_cancel_stops_a_running_one() -> None:
    window = [Window(at(9), at(10))]
    blocked = {at(9): state("blocked", instance=None, updated=at(9))}
    assert kinds(window, blocked, at(9)) == []
    assert next_due(window, blocked, at(9), LEAD, False) == at(9) + RETRY
    assert kinds(window, blocked, at(9) + RETRY) == ["start"]
    assert kinds(window, {at(9): state("running")}, at(9, 30), cancelled=True) == ["cancel"]
    assert kinds(window, {}, at(8), cancelled=True) == ["notice"]
    done = {at(9): state("ended", "cancelled", None)}
    assert kinds(window, done, at(8), cancelled=True) == []
    assert next_due(window, done, at(8), LEAD, True) is None
