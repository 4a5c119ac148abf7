"""Due times of bookings: DST in Berlin and New York, midnight-crossing windows, 29 February, cron spans."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from canopy.bookings.schedule import (
    ALL_DAYS,
    Cron,
    Daily,
    Once,
    instant_of,
    parse_days,
    parse_duration,
    parse_instant,
    parse_zone,
)
from canopy.bookings.windows import Window, booked_windows, next_window, window_at, windows
from canopy.errors import ValidationFailed

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


def test_a_start_skipped_by_spring_forward_moves_on_by_the_gap_in_berlin() -> None:
    daily = Daily(time(2, 30), time(4, 0), ALL_DAYS)
    found = windows(daily, BERLIN, utc(2025, 3, 29), utc(2025, 3, 31))
    day = next(w for w in found if w.start.astimezone(BERLIN).day == 30)
    assert day.start == local(BERLIN, 2025, 3, 30, 3, 30)  # 02:30 does not exist that night
    assert day.length == timedelta(minutes=30)
    assert instant_of(datetime(2025, 3, 30, 2, 30), BERLIN) == utc(2025, 3, 30, 1, 30)


def test_a_time_repeated_at_fall_back_is_its_first_occurrence_in_berlin() -> None:
    daily = Daily(time(2, 30), time(4, 0), ALL_DAYS)
    found = windows(daily, BERLIN, utc(2025, 10, 25, 12), utc(2025, 10, 27))
    day = found[0]
    assert day.start == utc(2025, 10, 26, 0, 30)  # 02:30 CEST, the first of the two
    assert day.length == timedelta(hours=2, minutes=30)  # the repeated hour is inside the window


def test_new_york_dst_days_keep_wall_clock_times() -> None:
    daily = Daily(time(1, 0), time(3, 0), ALL_DAYS)
    spring = windows(daily, NEW_YORK, utc(2025, 3, 9, 5), utc(2025, 3, 9, 10))[0]
    assert spring.start == utc(2025, 3, 9, 6) and spring.end == utc(2025, 3, 9, 7)  # 01:00 EST-03:00 EDT
    autumn = windows(daily, NEW_YORK, utc(2025, 11, 2, 4), utc(2025, 11, 2, 10))[0]
    assert autumn.start == utc(2025, 11, 2, 5) and autumn.length == timedelta(hours=3)


def test_cron_in_the_spring_forward_gap_fires_once_after_the_gap() -> None:
    cron = Cron("30 2 * * *", timedelta(minutes=10))
    found = windows(cron, NEW_YORK, utc(2025, 3, 8, 12), utc(2025, 3, 10, 12))
    assert [w.start for w in found] == [utc(2025, 3, 9, 7, 30), utc(2025, 3, 10, 6, 30)]  # 03:30 EDT, 02:30


def test_cron_at_fall_back_fires_once_in_the_repeated_hour() -> None:
    cron = Cron("30 1 * * *", timedelta(minutes=10))
    found = windows(cron, NEW_YORK, utc(2025, 11, 2, 0), utc(2025, 11, 2, 12))
    assert [w.start for w in found] == [utc(2025, 11, 2, 5, 30)]  # 01:30 EDT only


def test_a_daily_window_crosses_midnight() -> None:
    friday_night = Daily(time(22, 0), time(6, 0), parse_days("fri"))
    saturday_3am = local(BERLIN, 2025, 6, 7, 3, 0)
    open_now = window_at(friday_night, BERLIN, saturday_3am.astimezone(UTC))
    assert open_now == Window(local(BERLIN, 2025, 6, 6, 22).astimezone(UTC), local(BERLIN, 2025, 6, 7, 6))
    assert window_at(friday_night, BERLIN, local(BERLIN, 2025, 6, 7, 6, 0)) is None  # the end is excluded
    following = next_window(friday_night, BERLIN, saturday_3am, timedelta(days=8))
    assert following is not None and following.start == local(BERLIN, 2025, 6, 13, 22)


def test_29_february_fires_only_in_leap_years() -> None:
    cron = Cron("0 9 29 2 *", timedelta(hours=1))
    found = windows(cron, BERLIN, utc(2025, 1, 1), utc(2029, 1, 1))
    assert [w.start for w in found] == [local(BERLIN, 2028, 2, 29, 9)]
    once = Once(
        parse_instant("2028-02-29T23:30", BERLIN, "start"), parse_instant("2028-03-01T00:30", BERLIN, "end")
    )
    assert once.end - once.start == timedelta(hours=1)


def test_a_cron_that_never_fires_in_the_span_gives_no_window_quickly() -> None:
    never = Cron("0 9 30 2 *", timedelta(minutes=5))  # 30 February
    assert windows(never, BERLIN, utc(2025, 1, 1), utc(2025, 12, 31)) == []
    rare = Cron("0 9 29 2 *", timedelta(minutes=5))
    assert booked_windows(rare, BERLIN, utc(2025, 3, 1), utc(2025, 4, 1)) == []


def test_weekdays_wrap_and_parse() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_days("sat,sun") == frozenset({5, 6})
    assert parse_days("daily") == ALL_DAYS
    with pytest.raises(ValidationFailed, match="weekday"):
        parse_days("funday")


def test_durations_and_zones_are_validated() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("45s") == timedelta(seconds=45)
    for bad in ("", "0m", "10 minutes", "m"):
        with pytest.raises(ValidationFailed):
            parse_duration(bad)
    assert parse_zone("America/New_York").key == "America/New_York"
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValidationFailed, match="IANA"):
            parse_zone(bad)
