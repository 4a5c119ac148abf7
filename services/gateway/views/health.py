"""Liveness and metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from canopy.runtime.health import process_health
from services.gateway.access import PUBLIC, allow
from services.gateway.context import gateway_context

blueprint = Blueprint("health", __name__)


@blueprint.get("/api/v1/health")
@allow(PUBLIC)
def health() -> tuple[Response, int]:
    """Report whether the store and every component of this process answer; 503 names those failing."""
    backends = gateway_context().backends
    report = process_health(backends.store, backends.checks)
    return jsonify({"service": "gateway", **report}), 200 if report["status"] == "ok" else 503


@blueprint.get("/metrics")
@allow(PUBLIC)
def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
