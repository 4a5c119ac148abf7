"""Acceptance on real Kafka, PostgreSQL and Mailpit: booked fan-monitor windows start, mail, stop, survive.

One platform world for the module (gateway, node manager, deployer, a process-runtime agent, the
notifier mailing through Mailpit, fan-anomaly deployed and fan-monitor uploaded, as in the fan-monitor
scenario); the scheduler runs as its own process (`python -m services.scheduler`) so it can be killed
with SIGKILL and started again. The plant's one buzzer is exclusive, so the bookings follow each other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.bookings.records import BookingWindow
from canopy.config import load_config
from canopy.contracts import decode, topics
from canopy.contracts.bookings import BookingEvent
from canopy.deployments.tables import Deployment, Replica
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends, open_backends
from canopy.store.models import User
from services.gateway import accounts
from services.notifier.service import Placement, notifier_components
from tests.booking_world import once, soon
from tests.conftest import Mailpit, kafka_environment
from tests.deploy_helpers import REPO, running_platform, wait_for
from tests.fan_monitor_world import PLANT, PlantDevices, deploy_model_and_upload_app, register_plant

LEAD_SECONDS = 15  # the instance is bound and its package fetched this long before the window opens
START_WITHIN = 1.0  # seconds from the window's start to the published start request
STOP_WITHIN = 3.0  # seconds from the window's end to the stopped event
PAGE_WITHIN = 30.0  # seconds from the window's start to the app's page answering (process runtime)


@dataclass
class SchedulerProcess:
    """`python -m services.scheduler` with the world's settings; killed with SIGKILL, started again."""

    environment: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (its log is appended to `log`)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.scheduler"],
                cwd=REPO,
                env=self.environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@dataclass
class World:
    """The running platform, the booking user's token and address, fan-monitor's id, the scheduler."""

    backends: Backends
    api: str
    owner: str
    email: str
    app_id: str
    scheduler: SchedulerProcess
    mailpit: Mailpit

    def book(self, start: datetime, length: timedelta) -> str:
        """Book fan-monitor at the plant over REST; the booking's id."""
        reply = requests.post(
            f"{self.api}/api/v1/bookings",
            json=once(self.app_id, start, length, PLANT),
            headers=self.headers,
            timeout=10,
        )
        assert reply.status_code == 201, reply.text
        booking_id: str = reply.json()["id"]
        return booking_id

    @property
    def headers(self) -> dict[str, str]:
        """The booking user's bearer header."""
        return {"Authorization": f"Bearer {self.owner}"}

    def events(self, booking_id: str, last: str, timeout: float) -> list[BookingEvent]:
        """The booking's events from the beginning, once one of kind `last` arrived (or the timeout)."""
        consumer = self.backends.bus.consumer(f"e2e-book-{uuid.uuid4().hex[:8]}", [topics.BOOKINGS])
        found: list[BookingEvent] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not any(e.kind == last for e in found):
                record = consumer.poll(0.5)
                message = decode(record.value).message if record is not None else None
                if isinstance(message, BookingEvent) and message.booking_id == booking_id:
                    found.append(message)
        finally:
            consumer.close()
        assert any(e.kind == last for e in found), (
            f"no {last!r} event for {booking_id} in {timeout} s: {found}"
        )
        return found

    def page(self, url: str) -> int:
        """The status code of the app's page through the gateway (0 while it cannot be reached)."""
        try:
            return requests.get(url, headers=self.headers, timeout=5).status_code
        except requests.RequestException:
            return 0

    def instance_state(self, instance_id: str) -> tuple[int, list[str]]:
        """(deployment generation, workload ids) of an instance, from the store."""
        with self.backends.store.session() as session:
            deployment = session.get(Deployment, instance_id)
            workloads = session.scalars(select(Replica.workload_id).where(Replica.model_id == instance_id))
            return (deployment.generation if deployment else 0), sorted(workloads)

    def window(self, booking_id: str) -> BookingWindow | None:
        """The booking's (first) window record."""
        with self.backends.store.session() as session:
            row = session.scalars(select(BookingWindow).where(BookingWindow.booking_id == booking_id)).first()
            if row is not None:
                session.expunge(row)
            return row


def _schema_url(server: str, schema: str) -> str:
    url = make_url(server).set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def world(
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    postgres_url: str,
    mailpit: Mailpit,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """Kafka, a PostgreSQL schema of this run, Mailpit; the platform with fan-monitor; the scheduler."""
    run = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("bookings-e2e") / "home"
    schema = f"e2e_bookings_{run}"
    admin_engine = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    with admin_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    with pytest.MonkeyPatch.context() as monkeypatch, ExitStack() as stack:
        for key in [k for k in os.environ if k.startswith("CANOPY_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("CANOPY_HOME", str(home))
        kafka_environment(monkeypatch, kafka_url, kafka_logins)
        monkeypatch.setenv("CANOPY_DB_URL", _schema_url(postgres_url, schema))
        monkeypatch.setenv("CANOPY_MAIL_URL", mailpit.smtp_url)
        monkeypatch.setenv("CANOPY_BOOKING_LEAD_SECONDS", str(LEAD_SECONDS))
        monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", "admin-password-1")
        backends = open_backends(load_config())
        stack.callback(backends.close)
        email = f"booker-{run}@example.org"
        with backends.store.session() as session:
            tokens = {}
            for name, role in (("admin-e2e", Role.PLATFORM_ADMIN), ("user-end-user", Role.END_USER)):
                user: User = accounts.create_user(session, name, role, "password-123")
                user.email = email if role == Role.END_USER else None
                tokens[name] = accounts.issue_token(session, user, timedelta(hours=2)).secret
        register_plant(backends, "http", PlantDevices(f"-{run}"))
        gateway = stack.enter_context(running_platform(backends, home, "process"))
        monkeypatch.setenv("CANOPY_GATEWAY_URL", gateway.url)
        notifier = Service(
            "e2e-notifier",
            notifier_components(backends, placement=Placement(f"e2e-book-notifier-{run}", False)),
        )
        notifier.start()
        stack.callback(notifier.stop)
        _, app_id = deploy_model_and_upload_app(gateway.url, tokens["admin-e2e"], timeout=900)
        scheduler = SchedulerProcess(dict(os.environ), home / "scheduler.log")
        scheduler.start()
        stack.callback(scheduler.kill)
        try:
            yield World(backends, gateway.url, tokens["user-end-user"], email, app_id, scheduler, mailpit)
        finally:
            if (home / "scheduler.log").exists():
                print((home / "scheduler.log").read_text()[-4000:])
    with admin_engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin_engine.dispose()


def started_late(event: BookingEvent) -> float:
    """Seconds from the window's start to the started event (stamped as it is published)."""
    return (event.at - event.window_start).total_seconds()


@pytest.mark.timeout(1500)
def test_a_booking_20_s_ahead_starts_at_the_instant_mails_its_url_serves_its_page_and_stops(
    world: World,
) -> None:
    start = soon(20)
    booking_id = world.book(start, timedelta(seconds=45))
    (started,) = world.events(booking_id, "started", 60)
    print(f"booked start published {started_late(started) * 1000:.0f} ms after the window opened")
    assert 0 <= started_late(started) <= START_WITHIN, started
    assert started.url == f"{world.api}/apps/{started.instance_id}/"
    (mail,) = world.mailpit.wait_for(f'to:"{world.email}" subject:"is running"', timeout=30)
    assert started.url in mail["Text"], mail["Text"]
    wait_for(lambda: world.page(started.url or "") == 200, PAGE_WITHIN, "the app's page")
    answered = (datetime.now(start.tzinfo) - start).total_seconds()
    print(f"fan-monitor's page answered {answered:.1f} s after the window opened")
    events = world.events(booking_id, "stopped", 90)
    assert [e.kind for e in events] == ["started", "stopped"]
    assert 0 <= (events[-1].at - events[-1].window_end).total_seconds() <= STOP_WITHIN, events[-1]
    wait_for(lambda: world.page(started.url or "") != 200, 30, "the page to go away")
    world.mailpit.wait_for(f'to:"{world.email}" subject:"has stopped"', timeout=30)


@pytest.mark.timeout(600)
def test_a_killed_scheduler_restarted_mid_window_lets_the_window_run_on(world: World) -> None:
    start = soon(10)
    booking_id = world.book(start, timedelta(seconds=50))
    (started,) = world.events(booking_id, "started", 40)
    instance_id = started.instance_id or ""
    wait_for(lambda: world.page(started.url or "") == 200, PAGE_WITHIN, "the app's page")
    before = world.instance_state(instance_id)
    world.scheduler.kill()
    time.sleep(5)
    world.scheduler.start()
    time.sleep(10)
    assert world.page(started.url or "") == 200
    assert world.instance_state(instance_id) == before  # neither restarted nor redeployed
    events = world.events(booking_id, "stopped", 90)
    assert [e.kind for e in events] == ["started", "stopped"]


@pytest.mark.timeout(600)
def test_while_the_scheduler_is_down_an_open_window_starts_late_and_an_over_one_never_runs(
    world: World,
) -> None:
    world.scheduler.kill()
    try:
        missed = world.book(soon(3), timedelta(seconds=5))
        late_start = soon(12)
        late = world.book(late_start, timedelta(seconds=40))
        wait_for(lambda: datetime.now(late_start.tzinfo) > late_start + timedelta(seconds=8), 30, "the start")
    finally:
        world.scheduler.start()
    (started,) = world.events(late, "started", 60)
    assert started_late(started) >= 8, started
    skipped = world.events(missed, "skipped", 30)
    assert [e.kind for e in skipped] == ["skipped"]
    record = world.window(missed)
    assert record is not None and (record.state, record.outcome, record.instance_id) == (
        "ended",
        "skipped",
        None,
    )
    events = world.events(late, "stopped", 90)
    assert [e.kind for e in events] == ["started", "stopped"]


@pytest.mark.timeout(600)
def test_cancelling_a_booking_stops_its_running_instance(world: World) -> None:
    booking_id = world.book(soon(8), timedelta(minutes=5))
    (started,) = world.events(booking_id, "started", 40)
    wait_for(lambda: world.page(started.url or "") == 200, PAGE_WITHIN, "the app's page")
    reply = requests.post(
        f"{world.api}/api/v1/bookings/{booking_id}/cancel", headers=world.headers, timeout=10
    )
    assert reply.status_code == 200, reply.text
    events = world.events(booking_id, "cancelled", 30)
    assert [e.kind for e in events] == ["started", "cancelled"]
    wait_for(lambda: world.page(started.url or "") != 200, 30, "the page to go away")
    record: Any = wait_for(
        lambda: (r := world.window(booking_id)) is not None and r.state == "ended" and r, 60, "the unbinding"
    )
    assert record.outcome == "cancelled"
