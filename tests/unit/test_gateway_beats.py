"""The gateway's memory of service heartbeats: bounded, and judged by the heartbeat service's rule."""

from __future__ import annotations

from datetime import UTC, datetime

from canopy.contracts import Heartbeat
from services.gateway.beats import ServiceBeats


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def beat(service: str, interval: float = 2.0) -> Heartbeat:
    """A heartbeat of one instance of `service`."""
    return Heartbeat(
        service=service, instance=f"{service}@host:1", seq=0, interval=interval, started_at=datetime.now(UTC)
    )


def test_a_service_is_missing_only_after_the_allowed_silent_intervals() -> None:
    clock = Clock()
    beats = ServiceBeats(misses=3, clock=clock)
    beats.add(beat("scheduler", interval=2.0))
    clock.now += 6.0
    assert [(b.service, b.state) for b in beats.services()] == [("scheduler", "up")]
    clock.now += 0.1
    assert [(b.service, b.state) for b in beats.services()] == [("scheduler", "missing")]
    beats.add(beat("scheduler", interval=2.0))
    assert beats.services()[0].state == "up"


def test_only_a_bounded_number_of_names_is_kept_and_node_agents_are_left_to_the_node_list() -> None:
    clock = Clock()
    beats = ServiceBeats(misses=3, limit=3, clock=clock)
    for name in ("a", "b", "c", "node_agent"):
        beats.add(beat(name))
    beats.add(beat("a"))  # a beats again: b is now the longest silent
    beats.add(beat("d"))
    assert [b.service for b in beats.services()] == ["a", "c", "d"]
