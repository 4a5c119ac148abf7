"""Contracts every service uses: heartbeats, dead letters and log records."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from canopy.contracts import topics
from canopy.contracts.base import Message, contract


@contract("heartbeat-beat", topic=topics.HEARTBEAT)
class Heartbeat(Message):
    """A service instance saying it is alive; `interval` is the promised period in seconds."""

    service: str = Field(min_length=1, max_length=64)
    instance: str = Field(min_length=1, max_length=128)
    seq: int = Field(ge=0)
    interval: float = Field(gt=0)
    started_at: datetime


@contract("deadletter-record", topic=topics.DEADLETTER)
class DeadLetter(Message):
    """A payload a consumer could not decode, kept with the reason and where it came from."""

    source_topic: str
    partition: int
    offset: int
    key: str | None
    group: str
    reason: str
    payload: str = Field(description="the original bytes, as UTF-8 text or base64 when not text")
    payload_encoding: str = Field(pattern="^(utf-8|base64)$")


MAX_LOG_MESSAGE = 8192  # characters of one log record's message; longer text is cut
LogSource = Literal["service", "model", "app", "node"]


@contract("logs-record", topic=topics.LOGS)
class LogRecord(Message):
    """One log line of a platform service, a node agent or a workload (model replica or app instance)."""

    at: datetime
    level: str = Field(pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    source: LogSource
    service: str = Field(default="", max_length=64, description="the platform service, for its lines")
    node: str = Field(default="", max_length=64)
    model_id: str = Field(default="", max_length=64)
    instance_id: str = Field(default="", max_length=64, description="the app instance")
    logger: str = Field(default="", max_length=128)
    message: str = Field(max_length=MAX_LOG_MESSAGE)
