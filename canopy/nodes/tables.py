"""ORM model of enrolled nodes: their public keys, addresses and one-time join tokens (migration 0007)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from canopy.store.models import Base, utcnow


class NodeKey(Base):
    """A node a platform_admin added: where its workloads may listen, and the key it joined with."""

    __tablename__ = "node_keys"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    addresses: Mapped[str] = mapped_column(Text, default='["127.0.0.1"]')
    public_key: Mapped[str] = mapped_column(Text, default="")
    join_token_hash: Mapped[str] = mapped_column(String(64), default="")
    token_expires_at: Mapped[datetime] = mapped_column(default=utcnow)
    joined_at: Mapped[datetime | None] = mapped_column(default=None, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
