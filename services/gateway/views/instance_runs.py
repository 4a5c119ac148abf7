"""Start and stop app instances (published to the deployer like model deployments) and read their state.

An instance is deployed under its own id: its deployment row, events and replicas are those of a
model deployment. Its owner, the app's developer and platform_admin may start, stop and inspect it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from canopy.apps.deploying import INSTANCE_REPLICAS, instance_manifest
from canopy.apps.records import AppInstance
from canopy.bus.typed import publish
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import build_instance_request, deployment_view
from canopy.deployments.tables import Deployment
from canopy.errors import Conflict, NotFound, ValidationFailed
from services.gateway.access import allow, any_role, current_principal
from services.gateway.accounts import Principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_instance_runner
from services.gateway.views.deployments import _body, _labels

blueprint = Blueprint("instance_runs", __name__, url_prefix="/api/v1/app-instances")
PAGE_PREFIX = "/apps"


def find_instance(session: Session, instance_id: str) -> AppInstance:
    """The instance of that id, or NotFound."""
    instance = session.get(AppInstance, instance_id)
    if instance is None:
        raise NotFound(f"no app instance {instance_id}; see `canopy app instances`")
    return instance


def page_url(instance: AppInstance) -> str | None:
    """Where the gateway serves the instance's page, or None when its app has none."""
    if instance_manifest(instance).page is None:
        return None
    return f"{request.host_url.rstrip('/')}{PAGE_PREFIX}/{instance.id}/"


def request_run(principal: Principal, instance_id: str, replicas: int, labels: dict[str, str]) -> int:
    """Record a new desired state of the instance (0 replicas stops it), publish it, return its generation."""
    with gateway_context().backends.store.session() as session:
        instance = find_instance(session, instance_id)
        require_instance_runner(principal, instance, "start" if replicas else "stop")
        if not replicas and session.get(Deployment, instance.id) is None:
            raise Conflict(f"app instance {instance.id} has never been started")
        message: DeployRequest = build_instance_request(session, instance, replicas, labels)
        generation = message.generation
    bus = gateway_context().backends.bus
    publish(bus, message, key=message.model_id)
    bus.flush()
    return generation


def _request(instance_id: str, replicas: int) -> tuple[Response, int]:
    """Ask for a new desired state of the instance and answer 202."""
    labels = _labels(_body()) if replicas else {}
    generation = request_run(current_principal(), instance_id, replicas, labels)
    reply = {"instance_id": instance_id, "generation": generation, "status": "requested"}
    return jsonify(reply), 202


@blueprint.post("/<instance_id>/start")
@allow(*any_role())
def start_instance(instance_id: str) -> tuple[Response, int]:
    """Deploy the instance now ({node_labels} optional) with a fresh credential; follow GET .../deployment."""
    return _request(instance_id, INSTANCE_REPLICAS)


@blueprint.post("/<instance_id>/stop")
@allow(*any_role())
def stop_instance(instance_id: str) -> tuple[Response, int]:
    """Stop the instance's workload and remove it."""
    return _request(instance_id, 0)


@blueprint.get("/<instance_id>/deployment")
@allow(*any_role())
def instance_deployment(instance_id: str) -> Response:
    """Status, replicas, events after ?since=<event id>, last log lines of a failure, and the page URL."""
    since = request.args.get("since", "0")
    if not since.isdigit():
        raise ValidationFailed("since is an event id", details={"since": "invalid"})
    with gateway_context().backends.store.session() as session:
        instance = find_instance(session, instance_id)
        require_instance_runner(current_principal(), instance, "see the deployment of")
        view: dict[str, Any] | None = deployment_view(session, instance.id, int(since))
        if view is None:
            raise NotFound(f"app instance {instance.id} has never been started; start it first")
        return jsonify({**view, "instance_id": instance.id, "page_url": page_url(instance)})
