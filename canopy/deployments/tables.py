"""ORM models of deployments, their events and replicas, and the node registry (migration 0004)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from canopy.store.models import Base, utcnow


class Deployment(Base):
    """The desired and current state of one model's deployment."""

    __tablename__ = "deployments"

    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    desired_replicas: Mapped[int] = mapped_column(Integer, default=0)
    node_labels: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="requested")
    message: Mapped[str] = mapped_column(Text, default="")
    logs: Mapped[str] = mapped_column(Text, default="[]")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentEventRow(Base):
    """One progress event of a deployment, in order."""

    __tablename__ = "deployment_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    logs: Mapped[str] = mapped_column(Text, default="[]")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Replica(Base):
    """One running (or starting) replica of a model on a node."""

    __tablename__ = "replicas"

    workload_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="starting")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Node(Base):
    """A node as its agent last reported it."""

    __tablename__ = "nodes"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    runtime: Mapped[str] = mapped_column(String(16))
    labels: Mapped[str] = mapped_column(Text, default="{}")
    cpu_percent: Mapped[float] = mapped_column(Float)
    memory_percent: Mapped[float] = mapped_column(Float)
    cpu_count: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)
    max_workloads: Mapped[int] = mapped_column(Integer)
    workloads: Mapped[str] = mapped_column(Text, default="[]")
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
