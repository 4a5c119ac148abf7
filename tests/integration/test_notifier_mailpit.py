"""The notifier on real Kafka sends through real SMTP: the mail, with the app's URL, arrives in Mailpit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.bus.typed import publish
from canopy.config import load_config
from canopy.contracts.bookings import BookingEvent
from canopy.contracts.notifications import NotificationRequest
from canopy.runtime.backends import Backends, open_backends
from services.notifier.service import Placement, notifier_components
from tests.conftest import Mailpit, kafka_environment
from tests.functional.test_notifier import add_user

pytestmark = [pytest.mark.kafka, pytest.mark.mailpit]


@dataclass(frozen=True)
class World:
    """A notifier on Kafka mailing through Mailpit, and the run's unique names."""

    backends: Backends
    run: str

    def address(self, name: str) -> str:
        """A recipient address no other run uses."""
        return f"{name}-{self.run}@example.org"


@pytest.fixture()
def world(
    canopy_home: Path,
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    mailpit: Mailpit,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    run = uuid.uuid4().hex[:8]
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    monkeypatch.setenv("CANOPY_MAIL_URL", mailpit.smtp_url)
    monkeypatch.setenv("CANOPY_MAIL_USERNAME", "canopy")  # Mailpit accepts any login: the AUTH path runs
    monkeypatch.setenv("CANOPY_MAIL_PASSWORD", "any-password")
    monkeypatch.setenv("CANOPY_MAIL_FROM", f"canopy-{run}@example.org")
    backends = open_backends(load_config())
    # The session's topics are its own, so a new group reading them from the start misses nothing
    # published while it was still joining, and the users it finds are only this test's.
    components = notifier_components(backends, placement=Placement(group=f"test-notifier-{run}"))
    for component in components:
        component.start()
    try:
        yield World(backends, run)
    finally:
        for component in reversed(components):
            component.stop()
        backends.close()


def test_a_started_booking_mails_its_url_and_an_app_request_follows(world: World, mailpit: Mailpit) -> None:
    ada = world.address("ada")
    add_user(world.backends, f"ada-{world.run}", ada, "America/New_York")
    now = datetime.now(UTC)
    url = f"http://127.0.0.1:8080/apps/i-{world.run}/"
    event = BookingEvent(
        booking_id=f"b-{world.run}",
        user=f"ada-{world.run}",
        app_id="app-1",
        app_name="fan-monitor",
        location="plant",
        kind="started",
        window_start=now,
        window_end=now + timedelta(minutes=30),
        instance_id=f"i-{world.run}",
        url=url,
        at=now,
    )
    request = NotificationRequest(
        instance_id=f"i-{world.run}",
        app_id="app-1",
        user=f"ada-{world.run}",
        subject="Fan failure predicted (p=0.93)",
        body="The fan-anomaly model gives 0.93 — ünïcode survives.",
        requested_at=now,
    )
    publish(world.backends.bus, event, key=event.booking_id)
    publish(world.backends.bus, request, key=request.instance_id)
    world.backends.bus.flush()
    start, alarm = mailpit.wait_for(f'to:"{ada}"', count=2)
    by_subject = {message["Subject"]: message for message in (start, alarm)}
    mail = by_subject["fan-monitor is running at plant"]
    assert [to["Address"] for to in mail["To"]] == [ada]
    assert mail["From"]["Address"] == f"canopy-{world.run}@example.org"
    assert f"Open it: {url}" in mail["Text"] and ("EST" in mail["Text"] or "EDT" in mail["Text"])
    app_mail = by_subject["Fan failure predicted (p=0.93)"]
    assert "ünïcode survives" in app_mail["Text"] and f"instance i-{world.run}" in app_mail["Text"]
    assert app_mail["MessageID"].endswith("@canopy.invalid")
