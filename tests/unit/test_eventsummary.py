"""Summarising per-message events: the first at once, the rest as one line per key and interval."""

from __future__ import annotations

import logging

import pytest

from canopy.eventsummary import EventSummary, SummarizedLog, Summary


def test_the_first_event_of_a_key_is_logged_and_the_rest_summarised_when_the_interval_ends() -> None:
    summary = EventSummary(interval=10)
    assert summary.note(("fan-1", "invalid"), "r0", now=0) is True
    assert [summary.note(("fan-1", "invalid"), f"r{n}", now=n / 100) for n in range(1, 500)] == [False] * 499
    assert summary.note(("fan-2", "invalid"), "other", now=5) is True
    assert summary.next_due(now=6) == pytest.approx(4)
    assert summary.due(now=9.9) == []
    assert summary.due(now=10) == [Summary(("fan-1", "invalid"), 499, 10, "r499")]
    assert summary.next_due(now=10) is None  # fan-2 had nothing held: no line for it


def test_a_busy_key_stays_quiet_and_is_summarised_each_interval_then_forgotten() -> None:
    summary = EventSummary(interval=10)
    key = ("fan-1", "invalid")
    summary.note(key, "a", now=0)
    summary.note(key, "b", now=1)
    assert summary.due(now=10) == [Summary(key, 1, 10, "b")]
    assert summary.note(key, "c", now=12) is False  # still the same flood
    assert summary.due(now=20) == [Summary(key, 1, 10, "c")]
    assert summary.due(now=30) == []
    assert summary.note(key, "d", now=31) is True  # quiet for an interval: logged at once again


def test_the_keys_are_bounded_and_an_evicted_key_is_summarised_not_lost() -> None:
    summary = EventSummary(interval=10, max_keys=2)
    summary.note(("a",), "a1", now=0)
    summary.note(("a",), "a2", now=0)
    summary.note(("b",), "b1", now=1)
    summary.note(("c",), "c1", now=2)
    assert summary.next_due(now=2) == 0.0
    assert summary.due(now=2) == [Summary(("a",), 1, 2, "a2")]
    summary.note(("b",), "b2", now=3)
    assert summary.flush(now=4) == [Summary(("b",), 1, 3, "b2")]
    assert summary.next_due(now=4) is None


def test_a_flood_of_refusals_is_two_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    log = SummarizedLog(logging.getLogger("test.summary"), logging.INFO, interval=10, clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="test.summary")
    for n in range(2000):
        clock[0] = n / 1000
        log.event(("fan-1", "invalid"), f"refused reading {n}")
    clock[0] = 10.5
    log.event(("fan-9", "invalid"), "refused reading of fan-9")
    log.flush()
    assert caplog.messages == [
        "refused reading 0",
        "refused reading 1999 (1999 like it in the last 10 s; the metrics count each)",
        "refused reading of fan-9",
    ]


def test_the_timer_writes_a_summary_when_no_further_event_comes(caplog: pytest.LogCaptureFixture) -> None:
    log = SummarizedLog(logging.getLogger("test.timer"), logging.WARNING, interval=0.2)
    caplog.set_level(logging.WARNING, logger="test.timer")
    for _ in range(3):
        log.event(("k",), "same")
    assert log._timer is not None
    log._timer.join(5)
    assert caplog.messages == ["same", "same (2 like it in the last 0 s; the metrics count each)"]
