"""The logger's tables: stored log records and dead letters (migration 0012_logs), written by the logger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from canopy.store.models import Base

RowId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only auto-increments INTEGER keys


class LogLine(Base):
    """One stored log record; `id` orders records as they were stored (what `after` follows)."""

    __tablename__ = "log_records"
    __table_args__ = (
        Index("ix_log_records_model_id_id", "model_id", "id"),
        Index("ix_log_records_instance_id_id", "instance_id", "id"),
        Index("ix_log_records_service_id", "service", "id"),
        Index("ix_log_records_node_id", "node", "id"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(String(8))
    service: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(String(64))
    logger: Mapped[str] = mapped_column(String(128))
    message: Mapped[str] = mapped_column(Text)


class DeadLetterRow(Base):
    """One dead letter as the logger received it, with its reason and (scrubbed) payload."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    source_topic: Mapped[str] = mapped_column(String(255))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str | None] = mapped_column(String(255))
    group: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    payload_encoding: Mapped[str] = mapped_column(String(8))
