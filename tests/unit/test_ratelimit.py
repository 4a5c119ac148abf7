"""The sliding-window counter: limits per kind of key, explicit clock, bounded store."""

from __future__ import annotations

from canopy.ratelimit import WindowCounter
from tests.manual_clock import ManualClock


def test_a_key_is_full_at_its_kinds_limit_and_has_room_again_after_the_window() -> None:
    clock = ManualClock(500.0)
    counter = WindowCounter({"instance": 2, "recipient": 3}, window=3600, clock=clock)
    keys = [("instance", "i-1"), ("recipient", "ada@example.org")]
    counter.record(keys)
    clock.now += 10
    counter.record(keys)
    assert counter.retry_after(keys) == 3590  # the instance's first mail leaves the window then
    assert counter.retry_after([("instance", "i-2"), ("recipient", "ada@example.org")]) == 0
    counter.record([("instance", "i-2"), ("recipient", "ada@example.org")])
    assert counter.retry_after([("instance", "i-3"), ("recipient", "ada@example.org")]) == 3590
    clock.now += 3589
    assert counter.retry_after(keys) == 1
    clock.now += 1
    assert counter.retry_after(keys) == 0  # one mail of each key left the window


def test_the_store_forgets_the_least_recently_used_keys_beyond_its_bound() -> None:
    counter = WindowCounter({"recipient": 1}, window=60, max_entries=100, clock=ManualClock(500.0))
    for n in range(1000):
        counter.record([("recipient", f"r{n}@example.org")])
    assert counter.entries() == 100
    assert counter.retry_after([("recipient", "r999@example.org")]) == 60
    assert counter.retry_after([("recipient", "r0@example.org")]) == 0
    counter.forget(("recipient", "r999@example.org"))
    assert counter.retry_after([("recipient", "r999@example.org")]) == 0
