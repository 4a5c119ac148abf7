"""A clock a test sets by hand, for code that takes `clock: Callable[[], float]`."""

from __future__ import annotations


class ManualClock:
    """Returns `now` when called; the test moves it by assigning or adding to `now`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        """The time the test set."""
        return self.now
