"""Liveness and metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.gateway.access import PUBLIC, allow
from services.gateway.context import gateway_context

blueprint = Blueprint("health", __name__)


@blueprint.get("/api/v1/health")
@allow(PUBLIC)
def health() -> tuple[Response, int]:
    """Report whether the gateway and its store answer."""
    try:
        with gateway_context().backends.store.session() as session:
            session.execute(text("SELECT 1"))
        store = "ok"
    except Exception as exc:
        store = f"unavailable: {type(exc).__name__}"
    status = "ok" if store == "ok" else "degraded"
    return jsonify({"status": status, "service": "gateway", "store": store}), 200 if status == "ok" else 503


@blueprint.get("/metrics")
@allow(PUBLIC)
def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
