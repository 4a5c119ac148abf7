"""The gateway's in-memory history of recent readings: bounded rings, numeric fields only, oldest first."""

from __future__ import annotations

from services.gateway.history import ReadingHistory


def test_a_ring_keeps_the_newest_readings_oldest_first() -> None:
    history = ReadingHistory(size=3)
    for second in range(5):
        history.add("d", float(second), {"t": second * 10, "on": True, "name": "x"})
    series = history.series("d")
    assert series.times == [2.0, 3.0, 4.0]
    assert series.values == {"t": [20.0, 30.0, 40.0]}


def test_older_or_repeated_readings_are_ignored_and_missing_fields_are_null() -> None:
    history = ReadingHistory(size=4)
    history.add("d", 10.0, {"t": 1})
    history.add("d", 10.0, {"t": 99})
    history.add("d", 5.0, {"t": 99})
    history.add("d", 11.0, {"h": 2.5})
    chart = history.series("d").chart()
    assert chart["times"] == [10.0, 11.0]
    assert [(s["label"], s["values"]) for s in chart["series"]] == [("t", [1.0, None]), ("h", [None, 2.5])]


def test_the_least_recently_updated_device_is_forgotten_first() -> None:
    history = ReadingHistory(size=2, max_devices=2)
    history.add("a", 1.0, {"t": 1})
    history.add("b", 1.0, {"t": 1})
    history.add("a", 2.0, {"t": 2})
    history.add("c", 1.0, {"t": 1})
    assert history.known("a") and history.known("c") and not history.known("b")
    assert history.series("b").chart() == {"times": [], "series": []}
