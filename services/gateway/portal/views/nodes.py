"""The platform administrator's nodes: the fleet list, one node's live load and workloads, removal."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.wrappers import Response

from canopy.nodes.fleet import FleetNode, fleet_node, fleet_page, placed_replicas
from canopy.placement import LOST_AFTER_SECONDS
from canopy.roles import Role
from canopy.store.models import utcnow
from services.gateway.access import allow
from services.gateway.context import gateway_context
from services.gateway.portal import portal_blueprint
from services.gateway.portal.node_history import LoadSample, chart_json, node_history
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate_count, render
from services.gateway.views.nodes import retire_node

blueprint = portal_blueprint("nodes")
NOTICES = {"removed": "The node was removed: its key verifies nothing more and its reports are refused."}


def load_sample(node: FleetNode) -> LoadSample | None:
    """The node's last report as a chart point, or None before its first report."""
    if node.last_seen is None or node.cpu_percent is None or node.memory_percent is None:
        return None
    return LoadSample(node.last_seen.timestamp(), node.cpu_percent, node.memory_percent)


@blueprint.get("/nodes")
@allow(Role.PLATFORM_ADMIN)
def list_nodes() -> tuple[str, int]:
    """Every node (paged, filtered by id or label) with state, labels, load, last report and workloads."""
    query = request.args.get("q", "").strip()
    with gateway_context().backends.store.session() as session:
        nodes, total = fleet_page(session, utcnow(), query, page_offset(PAGE_SIZE), PAGE_SIZE)
    history = node_history()
    for node in nodes:
        history.observe(node.node_id, load_sample(node))
    return render(
        "nodes/list.html",
        notices=NOTICES,
        paged=paginate_count(nodes, total, PAGE_SIZE),
        query=query,
        lost_after=int(LOST_AFTER_SECONDS),
    )


@blueprint.get("/nodes/<node_id>")
@allow(Role.PLATFORM_ADMIN)
def show_node(node_id: str) -> tuple[str, int]:
    """One node: its facts, a live chart of its CPU and memory, its workloads and the remove form."""
    with gateway_context().backends.store.session() as session:
        node = fleet_node(session, node_id, utcnow())
        replicas = [
            {"model_id": r.model_id, "workload_id": r.workload_id, "state": r.state, "endpoint": r.endpoint}
            for r in placed_replicas(session, node_id)
        ]
    node_history().observe(node_id, load_sample(node))
    return render("nodes/show.html", node=node, replicas=replicas, lost_after=int(LOST_AFTER_SECONDS))


@blueprint.get("/nodes/<node_id>/load.json")
@allow(Role.PLATFORM_ADMIN)
def node_load(node_id: str) -> Response:
    """The node's recent CPU and memory load as chart JSON (at least its current report)."""
    store = gateway_context().backends.store

    def read() -> LoadSample | None:
        with store.session() as session:
            return load_sample(fleet_node(session, node_id, utcnow()))

    return jsonify(chart_json(node_history().samples(node_id, read)))


@blueprint.post("/nodes/<node_id>/remove")
@allow(Role.PLATFORM_ADMIN)
def remove_node(node_id: str) -> Response:
    """Remove a node as DELETE /api/v1/nodes/<id> does, then go back to the list."""
    retire_node(node_id)
    node_history().forget(node_id)
    return done("portal_nodes.list_nodes", "removed")
