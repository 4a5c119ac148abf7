from __future__ import annotations

from services.gateway.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pauses_after_limit_and_recovers_after_window() -> None:
    clock = Clock()
    throttle = LoginThrottle(limit=3, window=60, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("admin") == 0
        throttle.failed("admin")
    assert throttle.retry_after("admin") == 60
    assert throttle.retry_after("someone-else") == 0
    clock.now += 61
    assert throttle.retry_after("admin") == 0


def test_success_clears_failures() -> None:
    throttle = LoginThrottle(limit=2, window=60, clock=Clock())
    throttle.failed("a")
    throttle.succeeded("a")
    throttle.failed("a")
    assert throttle.retry_after("a") == 0
