"""The ORM models of device types, locations and devices; migration 0003_devices creates their tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from canopy.store.models import Base, utcnow


class DeviceType(Base):
    """A registered device type; `spec` is its DeviceTypeSpec as JSON, `revision` counts its changes."""

    __tablename__ = "device_types"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    revision: Mapped[int] = mapped_column(default=1)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Location(Base):
    """A place devices sit at: a normalised path such as city/street/building/room, maybe coordinates."""

    __tablename__ = "locations"

    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """A device instance of a type at a location; only the SHA-256 of its credential is stored.

    When it was last seen and its latest reading are kept by the telemetry path (telemetry_latest).
    """

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type_name: Mapped[str] = mapped_column(ForeignKey("device_types.name"), index=True)
    location_path: Mapped[str] = mapped_column(ForeignKey("locations.path"), index=True)
    transport: Mapped[str] = mapped_column(String(16))
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
