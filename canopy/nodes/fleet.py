"""The fleet as an administrator sees it: each node's state, load and workloads, from registry and enrolment.

A node is known from two tables: `node_keys` (a platform_admin added it; it joined with its key) and
`nodes` (what its agent last reported). Its state combines both with the placement's liveness rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, func, or_, select, union
from sqlalchemy.orm import Session

from canopy.deployments.tables import Node, Replica
from canopy.errors import NotFound
from canopy.nodes.tables import NodeKey
from canopy.placement import NodeView, is_alive

ACTIVE_STATES = ("starting", "ready")
READY, LOST, REMOVED = "ready", "lost", "removed"
WAITING, SILENT = "waiting to join", "joined, no report yet"


def active_workloads(workloads: list[dict[str, Any]]) -> int:
    """How many reported workloads hold a slot on their node (starting or ready)."""
    return sum(1 for workload in workloads if workload.get("state") in ACTIVE_STATES)


def node_view(node: Node) -> NodeView:
    """The placement view of a registry row."""
    return NodeView(
        node_id=node.node_id,
        cpu_percent=node.cpu_percent,
        memory_percent=node.memory_percent,
        cpu_count=node.cpu_count,
        memory_mb=node.memory_mb,
        max_workloads=node.max_workloads,
        workloads=active_workloads(json.loads(node.workloads)),
        last_seen=node.last_seen,
        labels=json.loads(node.labels),
        runtime=node.runtime,
    )


def node_state(row: Node | None, key: NodeKey | None, now: datetime) -> str:
    """ready, lost (no report for a while), removed (reports refused), waiting to join, or silent."""
    if key is None:
        return REMOVED
    if row is None:
        return SILENT if key.public_key else WAITING
    return READY if is_alive(node_view(row), now) else LOST


@dataclass(frozen=True)
class FleetNode:
    """One node with everything the fleet pages show; load and report time are None before a report."""

    node_id: str
    state: str
    runtime: str
    labels: dict[str, str]
    cpu_percent: float | None
    memory_percent: float | None
    workloads: list[dict[str, Any]]
    active_workloads: int
    max_workloads: int
    last_seen: datetime | None

    @property
    def alive(self) -> bool:
        """Whether its agent reports in time."""
        return self.state == READY


def fleet_node_of(row: Node | None, key: NodeKey | None, node_id: str, now: datetime) -> FleetNode:
    """Combine a node's registry row and enrolment into what the pages show."""
    workloads: list[dict[str, Any]] = json.loads(row.workloads) if row is not None else []
    return FleetNode(
        node_id=node_id,
        state=node_state(row, key, now),
        runtime=row.runtime if row is not None else "",
        labels=json.loads(row.labels) if row is not None else {},
        cpu_percent=row.cpu_percent if row is not None else None,
        memory_percent=row.memory_percent if row is not None else None,
        workloads=workloads,
        active_workloads=active_workloads(workloads),
        max_workloads=row.max_workloads if row is not None else 0,
        last_seen=row.last_seen if row is not None else None,
    )


def _node_ids(query: str) -> Subquery:
    """Ids of every known node (reported or enrolled) whose id or labels contain `query`."""
    pattern = f"%{query.lower()}%"
    reported = select(Node.node_id.label("node_id"))
    enrolled = select(NodeKey.node_id.label("node_id"))
    if query:
        reported = reported.where(
            or_(func.lower(Node.node_id).like(pattern), func.lower(Node.labels).like(pattern))
        )
        enrolled = enrolled.where(func.lower(NodeKey.node_id).like(pattern))
    return union(reported, enrolled).subquery()


def fleet_page(
    session: Session, now: datetime, query: str = "", offset: int = 0, limit: int = 50
) -> tuple[list[FleetNode], int]:
    """One page of nodes (by id) matching `query` in id or labels, and how many match in all."""
    ids = _node_ids(query)
    total = session.scalar(select(func.count()).select_from(ids)) or 0
    page = list(
        session.scalars(select(ids.c.node_id).order_by(ids.c.node_id).offset(offset).limit(limit)).all()
    )
    rows = {n.node_id: n for n in session.scalars(select(Node).where(Node.node_id.in_(page)))}
    keys = {k.node_id: k for k in session.scalars(select(NodeKey).where(NodeKey.node_id.in_(page)))}
    return [fleet_node_of(rows.get(i), keys.get(i), i, now) for i in page], int(total)


def fleet_node(session: Session, node_id: str, now: datetime) -> FleetNode:
    """One node, or NotFound when it was never added nor reported."""
    row, key = session.get(Node, node_id), session.get(NodeKey, node_id)
    if row is None and key is None:
        raise NotFound(f"no node {node_id!r}; the Nodes page lists them")
    return fleet_node_of(row, key, node_id, now)


def placed_replicas(session: Session, node_id: str) -> list[Replica]:
    """The replicas (of models and app instances) the deployer placed on a node."""
    return list(session.scalars(select(Replica).where(Replica.node_id == node_id).order_by(Replica.model_id)))
