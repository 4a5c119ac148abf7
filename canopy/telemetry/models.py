"""Tables of the telemetry path: latest values, refusal counters and controller commands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from canopy.store.models import Base, utcnow


class LatestReading(Base):
    """The newest accepted reading (or controller state) of a device and when it was last seen."""

    __tablename__ = "telemetry_latest"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    device_type: Mapped[str] = mapped_column(String(64))
    reading: Mapped[dict[str, object]] = mapped_column(JSON)
    at: Mapped[datetime]
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class RefusalCount(Base):
    """How many readings of a device were refused, per kind (invalid, unknown_device, bad_credential)."""

    __tablename__ = "telemetry_refusals"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_reason: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommandRecord(Base):
    """A controller command and, once the controller answered, its acknowledgement."""

    __tablename__ = "device_commands"

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), index=True)
    command: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    state: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str] = mapped_column(String(500), default="")
    acked_at: Mapped[datetime | None]
