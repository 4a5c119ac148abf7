"""The web portal: server-rendered pages for the four roles, over the REST API's domain code and rules."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, request

PORTAL_PREFIX = "/portal"
TEMPLATES = Path(__file__).parent / "templates"
# Pages run only the portal's own files: no inline script or style, nothing from another origin.
PORTAL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def portal_blueprint(area: str, url_prefix: str = "") -> Blueprint:
    """A blueprint for one area of the portal, mounted under /portal and named portal_<area>."""
    return Blueprint(f"portal_{area}", __name__, url_prefix=PORTAL_PREFIX + url_prefix)


def is_portal_request() -> bool:
    """True when the current request is for a portal page (cookie session, HTML errors)."""
    return request.path == "/" or request.path.startswith(PORTAL_PREFIX)
