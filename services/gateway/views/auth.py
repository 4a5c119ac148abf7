"""Sign in for a token, sign out, and who am I."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from canopy.errors import TooManyRequests, Unauthorized
from services.gateway import accounts
from services.gateway.access import PUBLIC, allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.views.helpers import json_body

blueprint = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@blueprint.post("/login")
@allow(PUBLIC)
def login() -> tuple[Response, int]:
    """Exchange a user name and password for an API token."""
    body = json_body("user", "password")
    context = gateway_context()
    name, address = str(body["user"]), request.remote_addr or "unknown"
    wait = context.throttle.retry_after(name, address)
    if wait:
        raise TooManyRequests(f"too many failed logins from {address}; retry in {wait:.0f} s")
    ttl = timedelta(hours=context.backends.config.token_ttl_hours)
    with context.backends.store.session() as session:
        try:
            user = accounts.authenticate(session, name, str(body["password"]))
        except Unauthorized:
            context.throttle.failed(name, address)
            raise
        issued = accounts.issue_token(session, user, ttl, label=str(body.get("label", "login")))
        context.throttle.succeeded(name, address)
        reply = {
            "token": issued.secret,
            "token_id": issued.token_id,
            "user": user.name,
            "role": user.role,
            "expires_at": issued.expires_at.isoformat(),
        }
    return jsonify(reply), 201


@blueprint.post("/logout")
@allow(*any_role())
def logout() -> tuple[str, int]:
    """Revoke the token this request was made with."""
    principal = current_principal()
    with gateway_context().backends.store.session() as session:
        accounts.revoke_token(session, principal.token_id, principal)
    return "", 204


@blueprint.get("/whoami")
@allow(*any_role())
def whoami() -> Response:
    """The caller's user name, role and token id."""
    principal = current_principal()
    return jsonify({"user": principal.name, "role": principal.role.value, "token_id": principal.token_id})
