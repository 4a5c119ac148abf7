"""Device contracts: readings submitted and accepted, controller commands and their acknowledgements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from canopy.contracts import topics
from canopy.contracts.base import Message, contract

DEVICE_ID = Field(min_length=1, max_length=128)


@contract("telemetry-submit", topic=topics.TELEMETRY_INGEST)
class TelemetrySubmission(Message):
    """A reading from a device its route already authenticated, not yet validated; never a credential."""

    device_id: str = DEVICE_ID
    reading: dict[str, Any]
    at: datetime
    seq: int | None = Field(default=None, ge=0)
    source: str = Field(default="kafka", pattern="^(kafka|http)$", description="http: relayed by the gateway")


@contract("telemetry-reading", topic=topics.DEVICE_TELEMETRY)
class TelemetryReading(Message):
    """A reading validated against the device's current type; the device's stream carries these."""

    device_id: str = DEVICE_ID
    device_type: str = Field(min_length=1, max_length=64)
    reading: dict[str, Any]
    at: datetime = Field(description="when the device took the reading")
    received_at: datetime = Field(description="when the platform accepted it")
    seq: int | None = Field(default=None, ge=0)
    source: str = Field(pattern="^(kafka|mqtt|http)$")


@contract("device-command", topic=topics.DEVICE_COMMANDS)
class DeviceCommand(Message):
    """A command validated against the controller's type, to be delivered by its transport."""

    command_id: str = Field(min_length=8, max_length=64)
    device_id: str = DEVICE_ID
    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any]
    issued_at: datetime
    expires_at: datetime


@contract("device-ack", topic=topics.DEVICE_EVENTS)
class CommandAck(Message):
    """A controller's acknowledgement of a command with the state it is now in."""

    command_id: str = Field(min_length=8, max_length=64)
    device_id: str = DEVICE_ID
    ok: bool = True
    state: dict[str, Any]
    error: str = ""
    at: datetime
