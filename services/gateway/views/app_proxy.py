"""Serve an app instance's page at /apps/<instance id>/: a streaming reverse proxy to its workload.

Only the user the instance runs for (its owner) and platform_admin get through: with a bearer token, or
from a browser signed in to the portal (GET). The caller's credentials (Authorization, cookies) never
reach the app, the app cannot set cookies on the gateway's origin, and its page runs sandboxed.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import urllib3
from flask import Blueprint, Response, redirect, request
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as BaseResponse

from canopy.deployments.records import live_endpoints
from canopy.deployments.tables import Deployment
from canopy.errors import Unavailable
from services.gateway.access import allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_page_viewer
from services.gateway.views.instance_runs import PAGE_PREFIX, find_instance

blueprint = Blueprint("app_proxy", __name__, url_prefix=PAGE_PREFIX)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
NOT_TO_APP = HOP_BY_HOP | {"authorization", "cookie"}
NOT_FROM_APP = (HOP_BY_HOP - {"content-length"}) | {"set-cookie"}
PAGE_POLICY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
}
# Always added (an app's own policy cannot lift it): in a browser the page gets an origin of its own, so
# its scripts cannot read the portal or another app's page with the visitor's session cookie.
PAGE_SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
CHUNK = 64 * 1024
_POOL = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=5, read=300))


def to_app(incoming: Headers, prefix: str) -> dict[str, str]:
    """The headers the app gets: the caller's minus credentials and hop-by-hop ones, plus X-Forwarded-*."""
    headers = {
        name: value
        for name, value in incoming.items()
        if name.lower() not in NOT_TO_APP and not name.lower().startswith("x-forwarded-")
    }
    headers.update(
        {
            "X-Forwarded-Prefix": prefix,
            "X-Forwarded-Host": request.host,
            "X-Forwarded-Proto": request.scheme,
            "X-Forwarded-For": request.remote_addr or "",
        }
    )
    return headers


def from_app(upstream: list[tuple[str, str]], prefix: str) -> list[tuple[str, str]]:
    """The app's response headers the caller gets: no cookies, no hop-by-hop; local redirects prefixed."""
    kept: list[tuple[str, str]] = []
    for name, value in upstream:
        if name.lower() in NOT_FROM_APP:
            continue
        if name.lower() == "location" and value.startswith("/") and not value.startswith(("//", prefix)):
            value = f"{prefix}{value}"
        kept.append((name, value))
    return kept


@blueprint.route("/<instance_id>", methods=METHODS)
@allow(*any_role())
def page_root(instance_id: str) -> BaseResponse:
    """Send /apps/<id> on to /apps/<id>/ (for those who may see the page), where relative links resolve."""
    with gateway_context().backends.store.session() as session:
        require_page_viewer(current_principal(), find_instance(session, instance_id))
    return redirect(f"{PAGE_PREFIX}/{instance_id}/", code=308)


@blueprint.route("/<instance_id>/", defaults={"path": ""}, methods=METHODS)
@blueprint.route("/<instance_id>/<path:path>", methods=METHODS)
@allow(*any_role())
def page(instance_id: str, path: str) -> Response:
    """Forward the request to the instance's page and stream its answer back."""
    with gateway_context().backends.store.session() as session:
        instance = find_instance(session, instance_id)
        require_page_viewer(current_principal(), instance)
        endpoints = live_endpoints(session, instance.id)
        deployment = session.get(Deployment, instance.id)
        state = "never started" if deployment is None else f"{deployment.status}: {deployment.message}"
    if not endpoints:
        raise Unavailable(
            f"app instance {instance_id} is not running ({state}); start it with "
            f"`canopy app run` or POST /api/v1/app-instances/{instance_id}/start"
        )
    prefix = f"{PAGE_PREFIX}/{instance_id}"
    url = f"{endpoints[0]}/{quote(path, safe='/:@!$&()*+,;=-._~')}"
    if request.query_string:
        url += f"?{request.query_string.decode('latin-1')}"
    headers = to_app(request.headers, prefix)
    length = request.content_length
    if length:
        headers["Content-Length"] = str(length)
    try:
        upstream = _POOL.urlopen(
            request.method,
            url,
            body=request.stream if length else None,
            headers=headers,
            redirect=False,
            preload_content=False,
            decode_content=False,
        )
    except urllib3.exceptions.HTTPError as exc:
        raise Unavailable(f"app instance {instance_id} does not answer on its page: {exc}") from exc

    def body() -> Iterator[bytes]:
        """The app's answer, chunk by chunk, releasing the connection at the end."""
        try:
            yield from upstream.stream(CHUNK, decode_content=False)
        finally:
            upstream.release_conn()

    response = Response(body(), status=upstream.status, direct_passthrough=True)
    response.headers.clear()
    for name, value in from_app(list(upstream.headers.items()), prefix):
        response.headers.add(name, value)
    for name, value in PAGE_POLICY.items():
        response.headers.setdefault(name, value)
    response.headers.add("Content-Security-Policy", PAGE_SANDBOX)
    return response
