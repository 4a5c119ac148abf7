"""Mount the portal on the gateway app: templates, fingerprinted assets, blueprints and cookies."""

from __future__ import annotations

from flask import Flask, url_for
from jinja2 import FileSystemLoader
from werkzeug.wrappers import Response

from services.gateway.portal import TEMPLATES, is_portal_request
from services.gateway.portal.assets import Assets
from services.gateway.portal.sessions import CSRF_FIELD, csrf_token, set_visitor_cookie
from services.gateway.portal.views import account, admin, apps, catalog, devices, models, nodes, static

AREAS = (
    account.root,
    account.blueprint,
    static.blueprint,
    devices.blueprint,
    nodes.blueprint,
    admin.blueprint,
    apps.blueprint,
    catalog.blueprint,
    models.blueprint,
)


def install_portal(app: Flask) -> None:
    """Register the portal's pages on the gateway app."""
    assets = Assets()
    app.extensions["canopy-assets"] = assets
    app.jinja_loader = FileSystemLoader(str(TEMPLATES))
    app.jinja_env.autoescape = True
    app.jinja_env.globals.update(
        asset=lambda name: url_for("portal_static.asset", filename=assets.url_name(name)),
        csrf_field=CSRF_FIELD,
        csrf_token=csrf_token,
    )
    for area in AREAS:
        app.register_blueprint(area)
    app.after_request(_portal_cookies)


def _portal_cookies(response: Response) -> Response:
    """Give a new visitor of a portal page the cookie its forms are bound to."""
    return set_visitor_cookie(response) if is_portal_request() else response
