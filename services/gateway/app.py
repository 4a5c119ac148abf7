"""The gateway's Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from canopy.errors import CanopyError
from canopy.runtime.backends import Backends
from services.gateway.access import enforce_roles, undeclared_endpoints
from services.gateway.beats import ServiceBeats
from services.gateway.context import GatewayContext
from services.gateway.limits import BoundedJSONProvider, enforce_body_limit
from services.gateway.live import DeviceFeed
from services.gateway.portal import PORTAL_CSP, is_portal_request
from services.gateway.portal.pages import error_page
from services.gateway.portal.setup import install_portal
from services.gateway.slots import LongLivedSlots
from services.gateway.throttle import LoginThrottle
from services.gateway.views import (
    account,
    app_proxy,
    apps,
    auth,
    bookings,
    commands,
    deployments,
    devices,
    health,
    instance_runs,
    instances,
    logs,
    metrics_targets,
    model_calls,
    models,
    nodes,
    notifications,
    telemetry,
    users,
)
from services.gateway.views.helpers import ModelRefConverter

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(backends: Backends) -> Flask:
    """Build the gateway app; refuses to build if any route does not declare its roles."""
    app = Flask("canopy.gateway", static_folder=None)
    app.json = BoundedJSONProvider(app)
    app.url_map.converters["model"] = ModelRefConverter
    config = backends.config
    app.extensions["canopy"] = GatewayContext(
        backends=backends,
        throttle=LoginThrottle(),
        slots=LongLivedSlots(config.streams_per_user, config.streams_total),
        feed=DeviceFeed(backends.bus, ServiceBeats(config.heal_service_timeout)),
    )
    areas = (
        health,
        auth,
        users,
        models,
        apps,
        telemetry,
        commands,
        devices,
        deployments,
        model_calls,
        nodes,
        instances,
        instance_runs,
        notifications,
        account,
        bookings,
        logs,
        app_proxy,
        metrics_targets,
    )
    for area in areas:
        app.register_blueprint(area.blueprint)
    install_portal(app)
    app.before_request(enforce_body_limit)
    app.before_request(enforce_roles)
    app.after_request(_add_security_headers)
    app.register_error_handler(CanopyError, _canopy_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    undeclared = undeclared_endpoints(app)
    if undeclared:
        raise RuntimeError(f"routes without a role declaration: {', '.join(undeclared)}")
    return app


def _add_security_headers(response: Response) -> Response:
    if is_portal_request():
        response.headers.setdefault("Content-Security-Policy", PORTAL_CSP)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _canopy_error(error: CanopyError) -> ResponseReturnValue:
    if is_portal_request():
        return error_page(error.status, error.message)
    return jsonify(error.to_payload()), error.status


def _http_error(error: HTTPException) -> ResponseReturnValue:
    status = error.code or 500
    if is_portal_request():
        return error_page(status, error.description or "")
    code = (error.name or "error").lower().replace(" ", "_")
    return jsonify({"error": {"code": code, "message": error.description, "retryable": False}}), status


def _unexpected_error(error: Exception) -> ResponseReturnValue:
    log.exception("unhandled error in a gateway view")
    return _canopy_error(CanopyError("internal error; see the gateway log"))
