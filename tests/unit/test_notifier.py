"""The notifier's pure parts and its handler with fakes: texts, recipients, limits, refusals recorded."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from canopy.bus import Record
from canopy.contracts import DeadLetter, Envelope, decode, encode
from canopy.contracts.bookings import BookingEvent
from canopy.contracts.notifications import NotificationRequest
from canopy.errors import Unavailable
from services.notifier.compose import booking_text, stale
from services.notifier.delivery import Notifier, Policy, Recipient
from tests.manual_clock import ManualClock

NOW = datetime(2025, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST, the day Berlin moves to summer time


def event(kind: str = "started", **changes: Any) -> BookingEvent:
    values: dict[str, Any] = {
        "booking_id": "b-7",
        "user": "ada",
        "app_id": "app-1",
        "app_name": "fan-monitor",
        "location": "plant",
        "kind": kind,
        "window_start": datetime(2025, 3, 30, 0, 30, tzinfo=UTC),  # 01:30 CET
        "window_end": datetime(2025, 3, 30, 8, 0, tzinfo=UTC),  # 10:00 CEST
        "instance_id": "i-9",
        "url": "http://127.0.0.1:8080/apps/i-9/" if kind == "started" else None,
        "at": NOW,
    }
    values.update(changes)
    return BookingEvent(**values)


def request(**changes: Any) -> NotificationRequest:
    values: dict[str, Any] = {
        "instance_id": "i-9",
        "app_id": "app-1",
        "user": "ada",
        "subject": "Fan failure predicted",
        "body": "p=0.93",
        "requested_at": NOW,
    }
    values.update(changes)
    return NotificationRequest(**values)


def test_the_started_mail_carries_the_url_and_the_window_in_the_users_zone() -> None:
    text = booking_text(event(), "ada", "Europe/Berlin")
    assert text.subject == "fan-monitor is running at plant"
    assert "Open it: http://127.0.0.1:8080/apps/i-9/" in text.body
    assert "2025-03-30 01:30 CET to 2025-03-30 10:00 CEST" in text.body
    assert text.body.startswith("Hello ada,\n")


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("failed", "fan-monitor at plant could not start"),
        ("stopped", "fan-monitor at plant has stopped"),
        ("cancelled", "Your booking of fan-monitor at plant is cancelled"),
        ("skipped", "Your booking of fan-monitor at plant was skipped"),
    ],
)
def test_every_kind_of_booking_event_has_its_subject(kind: str, subject: str) -> None:
    text = booking_text(event(kind, detail="the image did not build"), "ada", "America/New_York")
    assert text.subject == subject
    assert "Details: the image did not build" in text.body
    assert "2025-03-29 20:30 EDT" in text.body and "Open it" not in text.body


def test_names_with_line_breaks_do_not_break_the_subject_and_an_unknown_zone_is_utc() -> None:
    text = booking_text(event(app_name="fan\r\nBcc: x@y.z", location="pl\nant"), "ada", "Mars/Olympus")
    assert text.subject == "fan Bcc: x@y.z is running at pl ant"
    assert "2025-03-30 00:30 UTC" in text.body


def test_a_message_older_than_a_day_is_stale() -> None:
    assert not stale(NOW - timedelta(hours=23), NOW)
    assert stale(NOW - timedelta(hours=25), NOW)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, value: bytes, key: str | None = None) -> None:
        self.published.append((topic, value))

    def flush(self) -> None:
        pass

    def dead_letters(self) -> list[DeadLetter]:
        letters = [decode(value).message for _, value in self.published]
        return [letter for letter in letters if isinstance(letter, DeadLetter)]


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failure: Exception | None = None

    def send(self, message: EmailMessage) -> str:
        if self.failure is not None:
            raise self.failure
        self.sent.append(email.message_from_bytes(message.as_bytes(), policy=email.policy.default))  # type: ignore[arg-type]
        return "memory"

    def describe(self) -> str:
        return "memory"


USERS = {
    "ada": Recipient("ada@example.org", "Europe/Berlin"),
    "bob": Recipient(None, "UTC"),
    "eve": Recipient("not an address\r\nBcc: x@y.z", "UTC"),
}


@pytest.fixture()
def world() -> tuple[Notifier, FakeBus, FakeTransport, ManualClock]:
    bus, transport, clock = FakeBus(), FakeTransport(), ManualClock(100.0)
    policy = Policy("canopy@localhost", per_instance=3, per_recipient=2, recipient_domains=("example.org",))
    notifier = Notifier(bus, transport, USERS.get, policy, "notifier", clock=clock, now=lambda: NOW)  # type: ignore[arg-type]
    return notifier, bus, transport, clock


def deliver(notifier: Notifier, message: Any, message_id: str | None = None) -> None:
    value = encode(message, message_id=message_id)
    record = Record(message.TOPIC, 0, 1, "k", value, 0)
    envelope: Envelope = decode(value)
    notifier.handle(envelope, record)


def test_a_request_without_to_goes_to_the_users_address(world: Any) -> None:
    notifier, bus, transport, _ = world
    deliver(notifier, request())
    (sent,) = transport.sent
    assert (sent["To"], sent["Subject"], sent["X-Canopy-Instance"]) == (
        "ada@example.org",
        "Fan failure predicted",
        "i-9",
    )
    assert "p=0.93" in sent.get_content() and "instance i-9" in sent.get_content()
    assert bus.dead_letters() == []


def test_a_redelivered_message_is_sent_once(world: Any) -> None:
    notifier, _, transport, _ = world
    deliver(notifier, request(), "same-id")
    deliver(notifier, request(), "same-id")
    assert len(transport.sent) == 1


@pytest.mark.parametrize(
    ("message", "outcome", "reason"),
    [
        (event(user="bob"), "no-address", "user bob has no e-mail address"),
        (request(user="bob"), "no-address", "user bob has no e-mail address"),
        (request(user="gone"), "no-address", "user gone does not exist"),
        (request(user=None), "no-address", "runs for no user"),
        (request(user="eve"), "no-address", "user eve: email must be one line"),
        (request(to="ops@example.com"), "refused", "CANOPY_MAIL_RECIPIENT_DOMAINS"),
        (request(to="ops@example.org\r\nBcc: x@example.org"), "refused", "to must be one line"),
        (request(to="Ops <ops@example.org>"), "refused", "not one e-mail address"),
        (request(subject="hi\r\nBcc: x@example.org"), "refused", "subject must be one line"),
        (request(requested_at=NOW - timedelta(days=2)), "stale", "too old"),
        (event(at=NOW - timedelta(days=2)), "stale", "too old"),
    ],
)
def test_what_is_not_sent_is_dead_lettered_with_its_reason(
    world: Any, message: Any, outcome: str, reason: str
) -> None:
    notifier, bus, transport, _ = world
    deliver(notifier, message)
    assert transport.sent == []
    (letter,) = bus.dead_letters()
    assert f"mail not sent ({outcome})" in letter.reason and reason in letter.reason
    assert letter.group == "notifier" and letter.source_topic == message.TOPIC


def test_app_mail_is_bounded_per_recipient_and_per_instance(world: Any) -> None:
    notifier, bus, transport, clock = world
    deliver(notifier, request())
    deliver(notifier, request(instance_id="i-10"))
    deliver(notifier, request(instance_id="i-11"))  # ada got 2 this hour
    assert [m["To"] for m in transport.sent] == ["ada@example.org"] * 2
    assert "rate-limited): recipient ada@example.org had 2 mails this hour (CANOPY_MAIL_PER_RECIPIENT)" in (
        bus.dead_letters()[0].reason
    )
    for n in range(2):
        deliver(notifier, request(to=f"ops{n}@example.org"))  # i-9 sent 1 + 2
    deliver(notifier, request(to="ops9@example.org"))
    assert len(transport.sent) == 4 and len(bus.dead_letters()) == 2
    assert "instance i-9 had 3 mails this hour (CANOPY_MAIL_PER_INSTANCE)" in bus.dead_letters()[1].reason
    clock.now += 3600
    deliver(notifier, request(to="ops9@example.org"))
    assert transport.sent[-1]["To"] == "ops9@example.org"


def test_booking_mail_is_not_bound_by_the_app_limits(world: Any) -> None:
    notifier, bus, transport, _ = world
    for kind in ("started", "stopped", "started", "stopped", "cancelled"):
        deliver(notifier, event(kind))
    assert [m["X-Canopy-Event"] for m in transport.sent] == [
        "started",
        "stopped",
        "started",
        "stopped",
        "cancelled",
    ]
    assert transport.sent[0]["Subject"] == "fan-monitor is running at plant"
    assert bus.dead_letters() == []


def test_a_send_that_fails_after_its_retries_is_dead_lettered_and_the_next_one_goes(world: Any) -> None:
    notifier, bus, transport, _ = world
    transport.failure = Unavailable("smtp 127.0.0.1:1 (plain) failed 3 time(s): ConnectionRefusedError")
    deliver(notifier, event())
    (letter,) = bus.dead_letters()
    assert "mail not sent (failed): smtp 127.0.0.1:1 (plain) failed 3 time(s)" in letter.reason
    transport.failure = None
    deliver(notifier, event("stopped"))
    assert len(transport.sent) == 1
