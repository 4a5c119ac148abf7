"""A component that runs a bus Subscriber on its own thread."""

from __future__ import annotations

from collections.abc import Callable

from canopy.bus.typed import Subscriber
from canopy.runtime.component import LoopThread


class SubscriptionLoop(LoopThread):
    """Creates the subscriber when started, handles records until stopped, then leaves the group."""

    def __init__(self, name: str, make_subscriber: Callable[[], Subscriber]) -> None:
        super().__init__()
        self.name = name
        self._make_subscriber = make_subscriber
        self._subscriber: Subscriber | None = None

    def start(self) -> None:
        """Join the group, then start the loop."""
        self._subscriber = self._make_subscriber()
        super().start()

    def step(self) -> None:
        """Handle one record if one arrives within the bus's idle poll time."""
        if self._subscriber is not None:
            self._subscriber.run_once()

    def interrupt(self) -> None:
        """End the subscriber's wait for a record."""
        if self._subscriber is not None:
            self._subscriber.wake()

    def stop(self) -> None:
        """Stop the loop and leave the group."""
        super().stop()
        if self._subscriber is not None:
            self._subscriber.close()
