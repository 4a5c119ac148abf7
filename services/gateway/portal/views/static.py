"""The portal's CSS, scripts and the npm libraries it uses, under fingerprinted, cache-forever URLs."""

from __future__ import annotations

from flask import Response, current_app

from services.gateway.access import PUBLIC, allow
from services.gateway.portal import portal_blueprint
from services.gateway.portal.assets import Assets

blueprint = portal_blueprint("static", "/static")


def assets() -> Assets:
    """The app's fingerprinted static files."""
    found: Assets = current_app.extensions["canopy-assets"]
    return found


@blueprint.get("/<filename>")
@allow(PUBLIC)
def asset(filename: str) -> Response:
    """One static file by its fingerprinted name."""
    return assets().response(filename)
