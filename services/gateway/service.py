"""Assemble the gateway service: the HTTP server plus its heartbeat."""

from __future__ import annotations

import logging

from canopy.runtime import Component
from canopy.runtime.backends import Backends
from services.gateway.accounts import ensure_admin
from services.gateway.app import create_app
from services.gateway.server import HttpServer

log = logging.getLogger(__name__)


def bootstrap_admin(backends: Backends) -> str | None:
    """Create the admin user on first start; return a generated password to show once."""
    with backends.store.session() as session:
        return ensure_admin(session, backends.config.admin_password or None)


def gateway_components(backends: Backends) -> list[Component]:
    """The gateway's components on the configured host and port."""
    generated = bootstrap_admin(backends)
    if generated:
        print(
            f"Created user 'admin' with password: {generated}  (shown once; set CANOPY_ADMIN_PASSWORD "
            "to choose it)",
            flush=True,
        )
    app = create_app(backends)
    config = backends.config
    return [HttpServer(app, config.api_host, config.api_port, threads=config.api_threads)]
