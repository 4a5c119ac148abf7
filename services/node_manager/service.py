"""Keep the node registry from status reports and answer placement requests with the pure placement."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from canopy.bus.base import Record
from canopy.bus.typed import Subscriber, publish
from canopy.contracts import Envelope, topics
from canopy.contracts.deploy import NodeStatus, PlacementDecision, PlacementRequest
from canopy.deployments.records import platform_group
from canopy.deployments.tables import Node
from canopy.nodes.enrolment import status_refused
from canopy.nodes.fleet import node_view
from canopy.placement import Demand, NoNodeFits, place
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.subscription import SubscriptionLoop
from canopy.store.upsert import newest_row_upsert

log = logging.getLogger(__name__)


class NodeManager:
    """Handles node status reports and placement requests."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    def on_status(self, envelope: Envelope, _record: Record) -> None:
        """Upsert the reporting node's row, if the report is signed by that node and timely."""
        status = envelope.message
        if not isinstance(status, NodeStatus):
            return
        with self.backends.store.engine.begin() as connection:  # Core statements: this runs every second
            refused = status_refused(connection, status)
            if refused is not None:
                log.warning("refused a status report of node %s: %s", status.node_id, refused)
                return
            record_status(connection, status)

    def on_placement(self, envelope: Envelope, _record: Record) -> None:
        """Answer a placement request with nodes, or the reason none fits."""
        request = envelope.message
        if not isinstance(request, PlacementRequest):
            return
        with self.backends.store.session() as session:
            views = [node_view(node) for node in session.scalars(select(Node)).all()]
        demand = Demand(request.resources.cpu, request.resources.memory_mb, request.node_labels)
        try:
            chosen = place(
                views,
                request.replicas,
                demand,
                datetime.now(UTC),
                exclude=request.exclude_nodes,
                occupied=request.occupied,
                prefer=request.prefer_nodes,
            )
            runtimes = {view.node_id: view.runtime for view in views if view.node_id in chosen}
            decision = PlacementDecision(
                request_id=request.request_id, model_id=request.model_id, nodes=chosen, runtimes=runtimes
            )
        except NoNodeFits as exc:
            decision = PlacementDecision(
                request_id=request.request_id, model_id=request.model_id, error=str(exc)
            )
        log.info("placement for %s: %s", request.model_id, decision.nodes or decision.error)
        publish(self.backends.bus, decision, key=request.model_id)
        self.backends.bus.flush()


def record_status(connection: Connection, status: NodeStatus) -> None:
    """Insert or update the node's row in one statement; an older report arriving late changes nothing."""
    row = {
        "node_id": status.node_id,
        "runtime": status.runtime,
        "labels": json.dumps(status.labels),
        "cpu_percent": status.cpu_percent,
        "memory_percent": status.memory_percent,
        "cpu_count": status.cpu_count,
        "memory_mb": status.memory_mb,
        "max_workloads": status.max_workloads,
        "workloads": json.dumps([w.model_dump() for w in status.workloads]),
        "last_seen": status.at,
    }
    connection.execute(newest_row_upsert(connection.dialect.name, Node.__table__, "last_seen"), row)


def node_manager_components(backends: Backends) -> list[Component]:
    """The node manager's two subscriptions."""
    manager = NodeManager(backends)
    bus = backends.bus
    return [
        SubscriptionLoop(
            "node-status",
            lambda: Subscriber(
                bus,
                platform_group("node-manager-status", backends.config.db_url),
                [topics.NODE_STATUS],
                manager.on_status,
                from_beginning=False,  # reports repeat every 2 s; history is of no use to a new member
            ),
        ),
        SubscriptionLoop(
            "placement",
            lambda: Subscriber(
                bus,
                platform_group("node-manager-placement", backends.config.db_url),
                [topics.PLACEMENT],
                manager.on_placement,
            ),
        ),
    ]
