"""The login throttle: per (account, address) and per address, bounded, cleared by success."""

from __future__ import annotations

from services.gateway.throttle import LoginThrottle
from tests.manual_clock import ManualClock


def test_pauses_a_pair_after_its_limit_and_recovers_after_the_window() -> None:
    clock = ManualClock(1000.0)
    throttle = LoginThrottle(pair_limit=3, address_limit=100, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("admin", "10.0.0.9") == 0
        throttle.failed("admin", "10.0.0.9")
    assert throttle.retry_after("admin", "10.0.0.9") == 60
    assert throttle.retry_after("someone-else", "10.0.0.9") == 0
    clock.now += 61
    assert throttle.retry_after("admin", "10.0.0.9") == 0


def test_a_flood_from_one_address_does_not_lock_the_account_out_elsewhere() -> None:
    throttle = LoginThrottle(pair_limit=3, address_limit=5, window=60, clock=ManualClock(1000.0))
    for attempt in range(50):
        throttle.failed("admin" if attempt % 2 else f"guess-{attempt}", "203.0.113.7")
    assert throttle.retry_after("admin", "203.0.113.7") > 0
    assert throttle.retry_after("anyone", "203.0.113.7") > 0
    assert throttle.retry_after("admin", "192.0.2.1") == 0


def test_success_clears_only_its_pair() -> None:
    throttle = LoginThrottle(pair_limit=2, address_limit=100, window=60, clock=ManualClock(1000.0))
    throttle.failed("a", "h1")
    throttle.failed("a", "h2")
    throttle.succeeded("a", "h1")
    throttle.failed("a", "h1")
    throttle.failed("a", "h2")
    assert throttle.retry_after("a", "h1") == 0
    assert throttle.retry_after("a", "h2") == 60


def test_the_store_is_bounded_and_forgets_the_least_recently_used() -> None:
    throttle = LoginThrottle(
        pair_limit=1, address_limit=100, window=60, max_entries=100, clock=ManualClock(1000.0)
    )
    throttle.failed("admin", "h0")
    for index in range(1, 1000):
        throttle.failed(f"user-{index}", f"h{index}")
    assert throttle.entries() == 100
    assert throttle.retry_after("admin", "h0") == 0
    assert throttle.retry_after("user-999", "h999") == 60
