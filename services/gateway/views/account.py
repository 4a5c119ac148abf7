"""The caller's own account settings: time zone (bookings default to it) and e-mail address."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from canopy.errors import NotFound
from canopy.roles import ALL_ROLES
from canopy.store.models import User
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.user_settings import settings_view, update_settings
from services.gateway.views.helpers import json_body

blueprint = Blueprint("account", __name__, url_prefix="/api/v1")
PEOPLE = tuple(sorted(ALL_ROLES))


@blueprint.get("/account")
@allow(*PEOPLE)
def show_account() -> Response:
    """Your user name, role, time zone and e-mail address."""
    with gateway_context().backends.store.session() as session:
        user = session.get(User, current_principal().user_id)
        if user is None:
            raise NotFound("your user no longer exists")
        return jsonify(settings_view(user))


@blueprint.put("/account")
@allow(*PEOPLE)
def update_account() -> Response:
    """Set {timezone: IANA name, email: address or ""}; each is optional."""
    body = json_body()
    with gateway_context().backends.store.session() as session:
        return jsonify(settings_view(update_settings(session, current_principal().user_id, body)))
