"""The stored records of uploaded apps, their instances and the exclusive holds on controllers."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from canopy.store.models import Base, User, utcnow

APP_ID_PREFIX = "a"
INSTANCE_ID_PREFIX = "i"


def new_app_id() -> str:
    """A fresh public app id: 'a' and 14 hex digits."""
    return f"{APP_ID_PREFIX}{secrets.token_hex(7)}"


def new_instance_id() -> str:
    """A fresh public app-instance id: 'i' and 14 hex digits."""
    return f"{INSTANCE_ID_PREFIX}{secrets.token_hex(7)}"


def app_package_key(app_id: str) -> str:
    """The blob key of an app's original package zip."""
    return f"apps/{app_id}/package.zip"


class AppRecord(Base):
    """One uploaded app version: identity, normalised manifest (JSON) and where its package is stored."""

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("owner_id", "name", "version"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    format: Mapped[str] = mapped_column(String(16))
    manifest: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    blob_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User | None] = relationship(lazy="joined")


class AppInstance(Base):
    """An app bound to devices at a location, for the user it runs for, with its own credential.

    `bindings` maps each declared device role to a device id and `models` each declared model name
    to a model id (both JSON). `token_hash` is the SHA-256 of the instance's credential, which the
    workload presents to the gateway; it reaches exactly what is bound here.
    """

    __tablename__ = "app_instances"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    app_id: Mapped[str] = mapped_column(ForeignKey("apps.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    location: Mapped[str] = mapped_column(String(255))
    bindings: Mapped[str] = mapped_column(Text, default="{}")
    models: Mapped[str] = mapped_column(Text, default="{}")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="created")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    app: Mapped[AppRecord] = relationship(lazy="joined")
    owner: Mapped[User | None] = relationship(lazy="joined")


class DeviceHold(Base):
    """An exclusive controller held by one instance; the primary key makes a second hold impossible."""

    __tablename__ = "device_holds"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("app_instances.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
