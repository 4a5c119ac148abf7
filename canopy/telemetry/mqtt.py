"""The MQTT wire format of devices: topics and JSON payloads, shared by the bridge and the simulators."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from canopy.telemetry.ingest import Submission

TELEMETRY_FILTER = "canopy/devices/+/telemetry"
STATE_FILTER = "canopy/devices/+/state"
CHANNELS = ("telemetry", "state", "commands")


@dataclass(frozen=True)
class MqttLogin:
    """Where the platform's MQTT broker is and the platform account it logs in with."""

    host: str
    port: int
    username: str
    password: str = ""

    @classmethod
    def parse(cls, url: str, username: str, password: str) -> MqttLogin:
        """The login for an mqtt://host:port URL; ValueError for anything else."""
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError(f"expected an MQTT URL like mqtt://127.0.0.1:1883, got {url!r}")
        return cls(parts.hostname, parts.port or 1883, username, password)

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"


def topic_for(device_id: str, channel: str) -> str:
    """The MQTT topic of a device's channel: canopy/devices/<id>/<channel>."""
    return f"canopy/devices/{device_id}/{channel}"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(device id, channel) of a canopy/devices/<id>/<channel> topic, or None for anything else."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["canopy", "devices"] or not parts[2] or parts[3] not in CHANNELS:
        return None
    return parts[2], parts[3]


def telemetry_payload(reading: dict[str, Any], at: datetime, seq: int | None) -> bytes:
    """What a device publishes on its telemetry topic: the reading, when and a sequence number.

    The broker authenticated the device and its ACL pins the topic, so the payload needs no credential;
    a "token" field sent by older devices is ignored and never forwarded.
    """
    return json.dumps({"reading": reading, "at": at.isoformat(), "seq": seq}).encode()


def _parse_time(value: Any, default: datetime) -> datetime:
    """An ISO 8601 time (UTC when naive), or `default` when absent or malformed."""
    if not isinstance(value, str):
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return default
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def submission_from_payload(device_id: str, payload: bytes, now: datetime | None = None) -> Submission:
    """A Submission from a telemetry payload; malformed payloads give one that validation refuses."""
    now = now or datetime.now(UTC)
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        return Submission(device_id, None, now, None, "mqtt")
    seq = data.get("seq")
    return Submission(
        device_id=device_id,
        reading=data.get("reading"),
        at=_parse_time(data.get("at"), now),
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None,
        source="mqtt",
    )
