"""App instances: create (bind at a location), list, show and remove; and an instance's view of itself."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import Select, select

from canopy import devices
from canopy.apps import instances
from canopy.apps.records import AppInstance
from canopy.apps.removal import remove_stopped_instance
from canopy.bus.typed import publish
from canopy.roles import Role
from services.gateway.access import allow, current_principal
from services.gateway.accounts import Principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_instance_manager, require_instance_viewer
from services.gateway.views.helpers import json_body

blueprint = Blueprint("instances", __name__, url_prefix="/api/v1")
INSTANCE_USERS = (Role.END_USER, Role.APP_DEVELOPER, Role.PLATFORM_ADMIN)


@blueprint.post("/apps/<app_id>/instances")
@allow(*INSTANCE_USERS)
def create_instance(app_id: str) -> tuple[Response, int]:
    """Bind the app at {"location": path} (with optional {"bind": {role: device}}) and store the instance."""
    body = json_body()
    created = create(current_principal(), app_id, body.get("location"), body.get("bind"))
    with gateway_context().backends.store.session() as session:
        instance = instances.get_instance(session, created)
        return jsonify(instances.instance_view(instance, instances.held_devices(session, instance.id))), 201


@blueprint.get("/app-instances")
@allow(*INSTANCE_USERS)
def list_instances() -> Response:
    """The caller's instances (a platform_admin's: all)."""
    with gateway_context().backends.store.session() as session:
        found = session.scalars(visible_instances(current_principal())).unique().all()
        return jsonify({"instances": [instances.instance_view(instance) for instance in found]})


@blueprint.get("/app-instances/self")
@allow(Role.WORKLOAD)
def own_instance() -> Response:
    """The calling workload's instance: its app, location, bound devices with their types, and models."""
    instance_id = current_principal().instance_id or ""
    with gateway_context().backends.store.session() as session:
        instance = instances.get_instance(session, instance_id)
        bound: dict[str, dict[str, Any]] = json.loads(instance.bindings)
        for binding in bound.values():
            binding["definition"] = devices.get_type(session, binding["type"]).spec
        return jsonify(
            {
                "id": instance.id,
                "app_id": instance.app_id,
                "app": instance.app.name,
                "format": instance.app.format,
                "location": instance.location,
                "devices": bound,
                "models": json.loads(instance.models),
            }
        )


@blueprint.get("/app-instances/<instance_id>")
@allow(*INSTANCE_USERS)
def show_instance(instance_id: str) -> Response:
    """One instance, to its user, its app's developer and platform_admin."""
    with gateway_context().backends.store.session() as session:
        instance = instances.get_instance(session, instance_id)
        require_instance_viewer(current_principal(), instance.owner_id, instance.app.owner_id)
        return jsonify(instances.instance_view(instance, instances.held_devices(session, instance_id)))


@blueprint.delete("/app-instances/<instance_id>")
@allow(*INSTANCE_USERS)
def remove_instance(instance_id: str) -> tuple[str, int]:
    """Remove a stopped instance, release its exclusive holds and drop its database (its user or an admin)."""
    remove(current_principal(), instance_id)
    return "", 204


def create(principal: Principal, app_id: str, location: Any, bind: Any) -> str:
    """Bind the app at `location` (optional {role: device} picks) for the caller; the new instance's id."""
    picks = instances.parse_picks(bind)
    store = gateway_context().backends.store
    return instances.create_instance(
        store, app_id, principal.user_id, instances.parse_location(location), picks
    ).id


def visible_instances(principal: Principal) -> Select[AppInstance]:
    """The instances a caller lists, oldest first: their own (a platform_admin's: all)."""
    query = select(AppInstance).order_by(AppInstance.created_at, AppInstance.id)
    if principal.role is not Role.PLATFORM_ADMIN:
        query = query.where(AppInstance.owner_id == principal.user_id)
    return query


def remove(principal: Principal, instance_id: str) -> None:
    """Remove a stopped instance for its user or an admin; Conflict while it runs."""
    backends = gateway_context().backends
    with backends.store.session() as session:
        instance = instances.get_instance(session, instance_id)
        require_instance_manager(principal, instance.owner_id)
        purge = remove_stopped_instance(session, instance)
    if purge is not None:
        publish(backends.bus, purge, key=purge.model_id)
        backends.bus.flush()
