"""The scheduler on the embedded backends, driven by an explicit clock, and once on real time.

Ahead, at the instant, late, never, after a restart, cancelled; then through APScheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from canopy.apps.records import AppInstance, DeviceHold
from canopy.bookings.records import BookingWindow
from canopy.config import load_config
from canopy.contracts import topics
from canopy.contracts.bookings import BookingEvent
from canopy.contracts.deploy import DeployRequest
from canopy.roles import Role
from canopy.runtime.backends import Backends
from canopy.runtime.component import Component
from services.scheduler.core import BookingClock
from services.scheduler.runner import WindowRunner
from services.scheduler.service import scheduler_components
from tests.app_world import add_app, seed_devices
from tests.booking_world import PAGE_PORT, booking_app, drain, once, soon
from tests.functional.conftest import bearer

LENGTH = timedelta(minutes=30)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def booked(client: FlaskClient, backends: Backends, role_tokens: dict[Role, str]) -> dict[str, Any]:
    """A once booking of the fan app, 10 minutes from now, for 30 minutes."""
    app_id = booking_app(client, backends, role_tokens[Role.AI_DEVELOPER])
    start = soon(600)
    reply = client.post(
        "/api/v1/bookings", json=once(app_id, start, LENGTH), headers=bearer(role_tokens[Role.END_USER])
    )
    assert reply.status_code == 201, reply.get_json()
    return {
        "id": reply.get_json()["id"],
        "start": start,
        "end": start + LENGTH,
        "token": role_tokens[Role.END_USER],
    }


def events(backends: Backends, booking_id: str | None = None) -> list[tuple[str, str | None]]:
    """(kind, url) of the booking events, in order for one booking (partitions order per booking)."""
    found = [m for m in drain(backends.bus, topics.BOOKINGS) if isinstance(m, BookingEvent)]
    return [(m.kind, m.url) for m in found if booking_id in (None, m.booking_id)]


def deploys(backends: Backends) -> list[tuple[str, int, bool]]:
    found = [m for m in drain(backends.bus, topics.DEPLOY_REQUESTS) if isinstance(m, DeployRequest)]
    return [(m.model_id, m.replicas, m.prepare) for m in found]


def window(backends: Backends, booking_id: str) -> BookingWindow:
    with backends.store.session() as session:
        row = session.query(BookingWindow).filter_by(booking_id=booking_id).one()
        session.expunge(row)
        return row


def instances(backends: Backends) -> list[str]:
    with backends.store.session() as session:
        return [i.id for i in session.query(AppInstance)]


def scheduler(backends: Backends, clock: Clock) -> BookingClock:
    return BookingClock(backends.store, backends.bus, backends.config, clock)


def test_a_window_is_bound_ahead_started_at_its_instant_and_stopped_and_unbound_at_its_end(
    backends: Backends, booked: dict[str, Any]
) -> None:
    clock = Clock(booked["start"] - timedelta(minutes=5))
    core = scheduler(backends, clock)
    assert core.due_bookings() == [booked["id"]]
    assert core.tick(booked["id"]) == booked["start"] - timedelta(seconds=60)
    clock.now = booked["start"] - timedelta(seconds=60)
    assert core.tick(booked["id"]) == booked["start"]
    prepared = window(backends, booked["id"])
    assert prepared.state == "prepared" and prepared.instance_id in instances(backends)
    assert deploys(backends) == [(prepared.instance_id, 0, True)]
    clock.now = booked["start"]
    assert core.tick(booked["id"]) == booked["end"]
    assert window(backends, booked["id"]).state == "running"
    assert deploys(backends)[1:] == [(prepared.instance_id, 1, False)]
    url = f"http://127.0.0.1:8080/apps/{prepared.instance_id}/"
    assert events(backends) == [("started", url)]
    clock.now = booked["end"]
    assert core.tick(booked["id"]) is None
    ended = window(backends, booked["id"])
    assert (ended.state, ended.outcome) == ("ended", "stopped")
    assert deploys(backends)[2:] == [(prepared.instance_id, 0, False)]
    assert [kind for kind, _ in events(backends)] == ["started", "stopped"]
    assert instances(backends) == []
    with backends.store.session() as session:
        assert session.query(DeviceHold).count() == 0


def test_after_a_restart_a_running_window_continues(backends: Backends, booked: dict[str, Any]) -> None:
    clock = Clock(booked["start"])
    scheduler(backends, clock).tick(booked["id"])
    started = deploys(backends)
    clock.now = booked["start"] + timedelta(minutes=10)
    restarted = scheduler(backends, clock)
    assert restarted.due_bookings() == [booked["id"]]
    assert restarted.tick(booked["id"]) == booked["end"]
    assert deploys(backends) == started and [k for k, _ in events(backends)] == ["started"]


def test_a_start_missed_while_down_happens_late_and_an_over_window_never_runs(
    client: FlaskClient, backends: Backends, booked: dict[str, Any]
) -> None:
    clock = Clock(booked["start"] + timedelta(minutes=20))
    scheduler(backends, clock).tick(booked["id"])
    assert window(backends, booked["id"]).state == "running"
    event = next(m for m in drain(backends.bus, topics.BOOKINGS) if isinstance(m, BookingEvent))
    assert event.kind == "started" and "late" in event.detail
    second = client.post(
        "/api/v1/bookings",
        json=once(event.app_id, booked["end"] + timedelta(hours=1), LENGTH),
        headers=bearer(booked["token"]),
    ).get_json()["id"]
    clock.now = booked["end"] + timedelta(hours=2)
    assert scheduler(backends, clock).tick(second) is None
    skipped = window(backends, second)
    assert (skipped.state, skipped.outcome, skipped.instance_id) == ("ended", "skipped", None)
    assert [k for k, _ in events(backends, second)] == ["skipped"]
    assert all(replicas == 0 or model != skipped.instance_id for model, replicas, _ in deploys(backends))


def test_cancelling_stops_a_running_instance(
    client: FlaskClient, backends: Backends, booked: dict[str, Any]
) -> None:
    clock = Clock(booked["start"] + timedelta(minutes=1))
    core = scheduler(backends, clock)
    core.tick(booked["id"])
    instance = window(backends, booked["id"]).instance_id
    reply = client.post(f"/api/v1/bookings/{booked['id']}/cancel", headers=bearer(booked["token"]))
    assert reply.status_code == 200
    assert core.tick(booked["id"]) is None
    assert (window(backends, booked["id"]).outcome, instances(backends)) == ("cancelled", [])
    assert deploys(backends)[-1] == (instance, 0, False)
    assert [k for k, _ in events(backends)] == ["started", "cancelled"]


def test_a_preparation_that_cannot_be_recorded_leaves_no_instance_bound(
    backends: Backends, booked: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the window could not be recorded")

    monkeypatch.setattr(WindowRunner, "_write", broken)
    clock = Clock(booked["start"] - timedelta(seconds=60))
    scheduler(backends, clock).tick(booked["id"])
    assert instances(backends) == []
    with backends.store.session() as session:
        assert session.query(DeviceHold).count() == 0


def watchers(client: FlaskClient, backends: Backends, token: str, start: datetime, count: int) -> list[str]:
    """`count` bookings of an app with no exclusive controller, all for the same window."""
    seed_devices(backends)
    document = {"name": "watcher", "entry": "app:main", "devices": [{"name": "t", "type": "THERMOMETER"}]}
    app_id = add_app(backends, "user-app-developer", document)
    booked = []
    for _ in range(count):
        reply = client.post("/api/v1/bookings", json=once(app_id, start, LENGTH), headers=bearer(token))
        assert reply.status_code == 201, reply.get_json()
        booked.append(reply.get_json()["id"])
    return booked


def test_a_batch_of_armed_starts_or_stops_costs_the_same_statements_whatever_its_size(
    client: FlaskClient, backends: Backends, role_tokens: dict[Role, str]
) -> None:
    start = soon(600)
    booked = watchers(client, backends, role_tokens[Role.END_USER], start, 6)
    clock = Clock(start - timedelta(seconds=60))
    core = scheduler(backends, clock)
    assert [core.tick(b) for b in booked] == [start] * 6
    statements: list[str] = []

    def count(*_args: Any) -> None:
        statements.append("")

    def fire(bookings: list[str]) -> int:
        statements.clear()
        dues, retick = core.fire_armed([core.armed[b] for b in bookings])
        assert retick == [] and len(dues) == len(bookings)
        return len(statements)

    event.listen(backends.store.engine, "before_cursor_execute", count)
    try:
        clock.now = start
        two_starts, four_starts = fire(booked[:2]), fire(booked[2:])
        clock.now = start + LENGTH
        two_stops, four_stops = fire(booked[:2]), fire(booked[2:])
    finally:
        event.remove(backends.store.engine, "before_cursor_execute", count)
    assert two_starts == four_starts and two_stops == four_stops
    requests = [m for m in drain(backends.bus, topics.DEPLOY_REQUESTS) if isinstance(m, DeployRequest)]
    runs = sorted((m.replicas, m.generation) for m in requests if not m.prepare)
    assert runs == [(0, 2)] * 6 + [(1, 1)] * 6
    assert [k for k, _ in events(backends)].count("stopped") == 6


def run(components: list[Component]) -> Callable[[], None]:
    for component in components:
        component.start()

    def stop() -> None:
        for component in reversed(components):
            component.stop()

    return stop


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_apscheduler_runs_a_booking_a_few_seconds_ahead_and_rebuilds_after_a_restart(
    client: FlaskClient, backends: Backends, role_tokens: dict[Role, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANOPY_BOOKING_LEAD_SECONDS", "1")
    backends.config = load_config()  # type: ignore[misc]
    app_id = booking_app(client, backends, role_tokens[Role.AI_DEVELOPER])
    start = soon(3)
    reply = client.post(
        "/api/v1/bookings",
        json=once(app_id, start, timedelta(seconds=4)),
        headers=bearer(role_tokens[Role.END_USER]),
    )
    assert reply.status_code == 201
    fired: list[float] = []
    stop = run(scheduler_components(backends, lambda _b, due, at: fired.append((at - due).total_seconds())))
    try:
        wait_for(lambda: [k for k, _ in events(backends)] == ["started"], 10)
    finally:
        stop()
    stop = run(scheduler_components(backends))  # restarted mid-window: it continues, then stops
    try:
        wait_for(lambda: [k for k, _ in events(backends)] == ["started", "stopped"], 15)
    finally:
        stop()
    assert max(fired) < 1.0
    assert PAGE_PORT
