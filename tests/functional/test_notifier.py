"""The notifier on the embedded bus and store: requests and booking events become .eml files in the outbox."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from canopy.bus.typed import publish
from canopy.config import load_config
from canopy.contracts import DeadLetter, decode, topics
from canopy.contracts.bookings import BookingEvent
from canopy.contracts.notifications import NotificationRequest
from canopy.errors import Unavailable
from canopy.mail import Mail, build_message
from canopy.mail.transport import SmtpTransport
from canopy.roles import Role
from canopy.runtime.backends import Backends, open_backends
from canopy.store.models import User
from services.gateway import accounts
from services.notifier.service import notifier_components

CANOPY = str(Path(sys.executable).with_name("canopy"))


def add_user(backends: Backends, name: str, address: str | None, timezone: str = "UTC") -> None:
    """A user with an address and a zone, set in the store (the account API is another change's)."""
    with backends.store.session() as session:
        accounts.create_user(session, name, Role.END_USER, "password-123")
        user = session.scalars(select(User).where(User.name == name)).one()
        user.email, user.timezone = address, timezone


def started(user: str, **changes: Any) -> BookingEvent:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "booking_id": "b-1",
        "user": user,
        "app_id": "app-1",
        "app_name": "fan-monitor",
        "location": "plant",
        "kind": "started",
        "window_start": now,
        "window_end": now + timedelta(minutes=30),
        "instance_id": "i-1",
        "url": "http://127.0.0.1:8080/apps/i-1/",
        "at": now,
    }
    values.update(changes)
    return BookingEvent(**values)


def requested(user: str | None, **changes: Any) -> NotificationRequest:
    values: dict[str, Any] = {
        "instance_id": "i-1",
        "app_id": "app-1",
        "user": user,
        "subject": "Fan failure predicted (p=0.93)",
        "body": "The fan-anomaly model gives 0.93.",
        "requested_at": datetime.now(UTC),
    }
    values.update(changes)
    return NotificationRequest(**values)


def outbox_mail(outbox: Path, count: int, timeout: float = 20.0) -> list[EmailMessage]:
    """The first `count` .eml files of the outbox, parsed, oldest first (waits for them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = (
            sorted(outbox.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns) if outbox.exists() else []
        )
        if len(files) >= count:
            return [
                email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
                for path in files
            ]
        time.sleep(0.1)
    raise AssertionError(f"{count} mails did not appear in {outbox} within {timeout} s")


def dead_letters(backends: Backends, group: str, count: int) -> list[DeadLetter]:
    consumer = backends.bus.consumer(group, [topics.DEADLETTER])
    letters: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + 20
        while len(letters) < count and time.monotonic() < deadline:
            record = consumer.poll(0.2)
            if record is not None:
                letter = decode(record.value).message
                assert isinstance(letter, DeadLetter)
                letters.append(letter)
    finally:
        consumer.close()
    return letters


@pytest.fixture()
def notifier(backends: Backends) -> Iterator[Path]:
    components = notifier_components(backends)
    for component in components:
        component.start()
    yield backends.config.home / "outbox"
    for component in reversed(components):
        component.stop()


def test_a_booking_start_and_an_app_request_are_written_to_the_outbox(
    backends: Backends, notifier: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="services.notifier")
    add_user(backends, "ada", "ada@example.org", "Europe/Berlin")
    publish(backends.bus, started("ada"), key="b-1")
    publish(backends.bus, requested("ada"), key="i-1")
    publish(backends.bus, requested("ada", to="ops@example.net", subject="Buzzer test"), key="i-1")
    backends.bus.flush()
    mails = {mail["Subject"]: mail for mail in outbox_mail(notifier, 3)}
    start = mails["fan-monitor is running at plant"]
    assert (start["To"], start["From"], start["X-Canopy-Event"]) == (
        "ada@example.org",
        "canopy@localhost",
        "started",
    )
    assert "Open it: http://127.0.0.1:8080/apps/i-1/" in start.get_content()
    assert "CET" in start.get_content() or "CEST" in start.get_content()
    alarm = mails["Fan failure predicted (p=0.93)"]
    assert alarm["To"] == "ada@example.org" and "gives 0.93" in alarm.get_content()
    assert mails["Buzzer test"]["To"] == "ops@example.net"
    sent_lines = [r.getMessage() for r in caplog.records if "sent (" in r.getMessage()]
    assert len(sent_lines) == 3 and all(str(notifier) in line for line in sent_lines)
    assert sorted(os.stat(path).st_mode & 0o777 for path in notifier.glob("*.eml")) == [0o600] * 3


def test_a_user_without_an_address_is_recorded_and_the_next_mail_still_goes(
    backends: Backends, notifier: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(backends, "bob", None)
    add_user(backends, "ada", "ada@example.org")
    publish(backends.bus, started("bob", booking_id="b-bob"), key="b-bob")
    publish(backends.bus, requested("ada", subject="hi\r\nBcc: victim@example.net"), key="i-1")
    publish(backends.bus, started("ada", kind="stopped", url=None), key="b-1")
    backends.bus.flush()
    (mail,) = outbox_mail(notifier, 1)
    assert (mail["To"], mail["Subject"], mail["Bcc"]) == (
        "ada@example.org",
        "fan-monitor at plant has stopped",
        None,
    )
    reasons = sorted(letter.reason for letter in dead_letters(backends, "test-notifier-dl", 2))
    assert reasons[0].startswith("mail not sent (no-address): user bob has no e-mail address")
    assert reasons[1].startswith("mail not sent (refused): subject must be one line")
    warnings = [r.getMessage() for r in caplog.records if r.name == "services.notifier.delivery"]
    assert sum("not sent (no-address)" in line for line in warnings) == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_canopy_up_runs_the_notifier(canopy_home: Path) -> None:
    env = {**os.environ, "CANOPY_API_PORT": str(free_port()), "CANOPY_ADMIN_PASSWORD": "admin-password-1"}
    process = subprocess.Popen(
        [CANOPY, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        backends = open_backends(load_config())
        try:
            add_user(backends, "ada", "ada@example.org")
            publish(backends.bus, started("ada"), key="b-1")
            backends.bus.flush()
            (mail,) = outbox_mail(canopy_home / "outbox", 1, timeout=60)
        finally:
            backends.close()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert mail["To"] == "ada@example.org" and "http://127.0.0.1:8080/apps/i-1/" in mail.get_content()
    assert f"mail goes to outbox {canopy_home / 'outbox'}" in output


def test_a_send_to_a_server_that_is_down_is_retried_then_dead_lettered(backends: Backends) -> None:
    waits: list[float] = []
    port = free_port()  # nothing listens there
    transport = SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=2, sleep=waits.append)
    with pytest.raises(
        Unavailable, match=rf"smtp 127\.0\.0\.1:{port} \(plain\) failed 3 time\(s\): ConnectionRefused"
    ):
        transport.send(
            build_message(Mail("ada@example.org", "s", "b", "m-1", datetime.now(UTC)), "canopy@localhost")
        )
    assert waits == [1.0, 4.0]
    add_user(backends, "ada", "ada@example.org")
    components = notifier_components(backends, transport=transport)
    for component in components:
        component.start()
    try:
        publish(backends.bus, started("ada"), key="b-1")
        backends.bus.flush()
        (letter,) = dead_letters(backends, "test-notifier-down", 1)
    finally:
        for component in reversed(components):
            component.stop()
    assert letter.reason.startswith(f"mail not sent (failed): smtp 127.0.0.1:{port} (plain) failed 3 time(s)")
    assert letter.source_topic == topics.BOOKINGS and "http://127.0.0.1:8080/apps/i-1/" in letter.payload
