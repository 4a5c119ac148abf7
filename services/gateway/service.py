"""Assemble the gateway service: the app, first administrator included, and its in-process HTTP server."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from flask import Flask

from canopy.errors import Conflict
from canopy.private import write_private_file
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.store import conflict_on_duplicate
from services.gateway.accounts import ensure_admin
from services.gateway.app import create_app
from services.gateway.server import HttpServer

ADMIN_PASSWORD_FILE = "admin-password"

log = logging.getLogger(__name__)


def bootstrap_admin(backends: Backends) -> str | None:
    """Create the admin user on the platform's first start; return a generated password to hand over."""
    try:
        with (
            conflict_on_duplicate("another gateway created the first administrator"),
            backends.store.session() as session,
        ):
            return ensure_admin(session, backends.config.admin_password or None)
    except Conflict:
        return None


def hand_over_password(password: str, home: Path, out: TextIO) -> Path | None:
    """Show a generated admin password on a terminal only; otherwise write it to a 0600 file, logged."""
    if out.isatty():
        print(
            f"Created user 'admin' with password: {password}  (shown once; set CANOPY_ADMIN_PASSWORD "
            "to choose it)",
            file=out,
            flush=True,
        )
        return None
    path = home / ADMIN_PASSWORD_FILE
    write_private_file(path, f"{password}\n".encode())
    log.warning(
        "Created user 'admin'; its generated password is in %s (readable by this user only): "
        "sign in, then delete the file. Set CANOPY_ADMIN_PASSWORD to choose the password instead.",
        path,
    )
    return path


def gateway_app(backends: Backends) -> Flask:
    """The gateway app, once the first administrator exists (its generated password handed over)."""
    generated = bootstrap_admin(backends)
    if generated:
        hand_over_password(generated, backends.config.home, sys.stdout)
    return create_app(backends)


def gateway_components(backends: Backends) -> list[Component]:
    """The gateway's components on the configured host and port (waitress, in this process)."""
    app = gateway_app(backends)
    config = backends.config
    return [HttpServer(app, config.api_host, config.api_port, threads=config.api_threads)]
