"""The stored record of an uploaded model package."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from canopy.store.models import Base, User, utcnow

MODEL_ID_PREFIX = "m"
UPLOADED = "uploaded"


def new_model_id() -> str:
    """A fresh public model id: 'm' and 14 hex digits."""
    return f"{MODEL_ID_PREFIX}{secrets.token_hex(7)}"


def package_key(model_id: str) -> str:
    """The blob key of a model's original package zip."""
    return f"models/{model_id}/package.zip"


class ModelRecord(Base):
    """One uploaded model version: its identity, normalised manifest and where its package is stored.

    A name belongs to its owner: (owner, name, version) is unique, so two owners may both have a "fan".
    """

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("owner_id", "name", "version"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    framework: Mapped[str] = mapped_column(String(16))
    manifest: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    blob_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(32), default=UPLOADED)

    owner: Mapped[User | None] = relationship(lazy="joined")
