"""Shared by the booking tests: a world with an exclusive fan app, booking requests, and bus reading."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient

from canopy.bus import Bus
from canopy.contracts import Message, decode
from canopy.runtime.backends import Backends
from tests.app_world import ROOM, add_app, manifest, seed_devices

PAGE_PORT = 6015


def booking_app(client: FlaskClient, backends: Backends, ai_token: str) -> str:
    """Devices and the app_developer's fan app (a page, a thermometer, an exclusive fan); the app's id."""
    seed_devices(backends)
    document = manifest("unused", page={"port": PAGE_PORT}, models=[])
    return add_app(backends, "user-app-developer", document)


def iso(when: datetime) -> str:
    """An instant as the API takes it."""
    return when.astimezone(UTC).isoformat()


def once(app_id: str, start: datetime, length: timedelta, location: str = ROOM) -> dict[str, Any]:
    """A once booking body."""
    return {"app": app_id, "location": location, "start": iso(start), "end": iso(start + length)}


def soon(seconds: float = 600) -> datetime:
    """A whole second `seconds` from now."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


def drain(bus: Bus, topic: str, group: str | None = None, wait: float = 0.2) -> list[Message]:
    """Every message on a topic from the beginning, read by a fresh consumer group."""
    consumer = bus.consumer(group or f"test-{uuid.uuid4().hex[:8]}", [topic], from_beginning=True)
    found: list[Message] = []
    try:
        while (record := consumer.poll(wait)) is not None:
            found.append(decode(record.value).message)
    finally:
        consumer.close()
    return found
