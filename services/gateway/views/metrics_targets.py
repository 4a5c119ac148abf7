"""Prometheus service discovery: the ready replicas of the endpoint registry as http_sd target groups."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from canopy.deployments.tables import Replica
from canopy.errors import Forbidden
from canopy.roles import Role
from services.gateway.access import PUBLIC, allow, bearer_principal
from services.gateway.context import gateway_context

blueprint = Blueprint("metrics_targets", __name__, url_prefix="/api/v1")


def target_groups(replicas: list[Replica]) -> list[dict[str, object]]:
    """One http_sd group per ready replica: its host:port, labelled with model, node and workload."""
    groups: list[dict[str, object]] = []
    for replica in replicas:
        address = urlsplit(replica.endpoint)
        if replica.state != "ready" or not address.hostname or not address.port:
            continue
        labels = {
            "model_id": replica.model_id,
            "node_id": replica.node_id,
            "workload_id": replica.workload_id,
        }
        groups.append({"targets": [f"{address.hostname}:{address.port}"], "labels": labels})
    return groups


def scrape_token_matches(header: str) -> bool:
    """Whether the Authorization header carries the configured CANOPY_PROMETHEUS_TOKEN."""
    expected = str(gateway_context().backends.config.prometheus_token)
    scheme, _, token = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), expected)


@blueprint.get("/metrics/targets")
@allow(PUBLIC)
def metrics_targets() -> Response:
    """Every ready replica to scrape (Prometheus http_sd); for the scrape token or a platform_admin."""
    header = request.headers.get("Authorization", "")
    if not scrape_token_matches(header) and bearer_principal(header).role != Role.PLATFORM_ADMIN:
        raise Forbidden(
            "only Prometheus (CANOPY_PROMETHEUS_TOKEN) or a platform_admin may list scrape targets"
        )
    with gateway_context().backends.store.session() as session:
        replicas = list(session.scalars(select(Replica).order_by(Replica.workload_id)))
        return jsonify(target_groups(replicas))
