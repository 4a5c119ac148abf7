"""Deploy, undeploy and scale models (published to the deployer), and read deployments and endpoints.

Only a model's owner or a platform_admin may change or inspect its deployment; anyone signed in may
resolve its endpoints, since model_call is how apps use other owners' models.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from canopy.bus.typed import publish
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import build_deploy_request, deployment_view, live_endpoints, node_rows
from canopy.deployments.tables import Deployment
from canopy.errors import Conflict, NotFound, ValidationFailed
from canopy.models import ModelRecord
from canopy.models.repository import resolve_model
from canopy.roles import Role
from services.gateway.access import allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import owner_scope, require_model_manager, require_model_user

blueprint = Blueprint("deployments", __name__, url_prefix="/api/v1")
MAX_REPLICAS = 32
DEPLOYERS = (Role.AI_DEVELOPER, Role.PLATFORM_ADMIN)


def find_model(session: Session, ref: str) -> ModelRecord:
    """The model `ref` (an id, `owner/name` or the caller's own name) names for the caller."""
    return resolve_model(session, ref, current_principal().user_id)


def managed_model(session: Session, ref: str, action: str) -> ModelRecord:
    """The model `ref` names, if the caller may `action` it (its owner or a platform_admin)."""
    record = find_model(session, ref)
    require_model_manager(current_principal(), record, action)
    return record


def _replicas(body: dict[str, Any], default: int) -> int:
    """The replica count in the body, validated, or the default."""
    value = body.get("replicas", default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_REPLICAS:
        raise ValidationFailed(
            f"replicas must be an integer from 0 to {MAX_REPLICAS}", details={"replicas": "invalid"}
        )
    return value


def _labels(body: dict[str, Any]) -> dict[str, str]:
    """node_labels as a dict, from an object or a list of key=value strings."""
    raw = body.get("node_labels") or {}
    if isinstance(raw, list):
        pairs = [str(item).partition("=") for item in raw]
        if any(not key or not sep for key, sep, _ in pairs):
            raise ValidationFailed(
                "node_labels items look like key=value", details={"node_labels": "invalid"}
            )
        raw = {key: value for key, _, value in pairs}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValidationFailed("node_labels is an object of strings", details={"node_labels": "invalid"})
    return {str(k): v for k, v in raw.items()}


def _body() -> dict[str, Any]:
    """The optional JSON object body."""
    body = request.get_json(silent=True) if request.data else {}
    if not isinstance(body, dict):
        raise ValidationFailed("expected a JSON object body")
    return body


def publish_request(message: DeployRequest) -> DeployRequest:
    """Publish a request once its generation is committed, so the deployer finds it in the store."""
    bus = gateway_context().backends.bus
    publish(bus, message, key=message.model_id)
    bus.flush()
    return message


def request_deploy(model_ref: str, body: dict[str, Any]) -> DeployRequest:
    """Ask the deployer to run the model with {replicas, node_labels} (the caller must manage it)."""
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_ref, "deploy")
        default = int(json.loads(record.manifest).get("replicas") or 1)
        replicas = _replicas(body, default)
        message = build_deploy_request(session, record, replicas, _labels(body))
    return publish_request(message)


def request_undeploy(model_ref: str) -> DeployRequest:
    """Ask the deployer to stop and remove every replica of the model; Conflict if never deployed."""
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_ref, "undeploy")
        if session.get(Deployment, record.id) is None:
            raise Conflict(f"model {record.id} is not deployed")
        message = build_deploy_request(session, record, 0, {})
    return publish_request(message)


def request_scale(model_ref: str, body: dict[str, Any]) -> DeployRequest:
    """Change the replica count of a deployed model to body's {replicas}, keeping its node labels."""
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_ref, "scale")
        if "replicas" not in body:
            raise ValidationFailed('send {"replicas": N}', details={"replicas": "required"})
        deployment = session.get(Deployment, record.id)
        if deployment is None:
            raise Conflict(f"model {record.id} is not deployed; deploy it first")
        labels = json.loads(deployment.node_labels)
        message = build_deploy_request(session, record, _replicas(body, 1), labels)
    return publish_request(message)


def _accepted(message: DeployRequest) -> tuple[Response, int]:
    """The 202 reply to a published request."""
    reply = {"model_id": message.model_id, "generation": message.generation, "replicas": message.replicas}
    return jsonify({**reply, "status": "requested"}), 202


@blueprint.post("/models/<model:model_id>/deploy")
@allow(*DEPLOYERS)
def deploy_model(model_id: str) -> tuple[Response, int]:
    """Ask the deployer to run the model with {replicas, node_labels}; follow GET .../deployment."""
    return _accepted(request_deploy(model_id, _body()))


@blueprint.post("/models/<model:model_id>/undeploy")
@allow(*DEPLOYERS)
def undeploy_model(model_id: str) -> tuple[Response, int]:
    """Ask the deployer to stop and remove every replica of the model."""
    return _accepted(request_undeploy(model_id))


@blueprint.post("/models/<model:model_id>/scale")
@allow(*DEPLOYERS)
def scale_model(model_id: str) -> tuple[Response, int]:
    """Change the replica count of a deployed model: {replicas}."""
    return _accepted(request_scale(model_id, _body()))


@blueprint.get("/models/<model:model_id>/deployment")
@allow(*any_role())
def show_deployment(model_id: str) -> Response:
    """Status, replicas, nodes, endpoints and progress events after ?since=<event id>."""
    since = request.args.get("since", "0")
    if not since.isdigit():
        raise ValidationFailed("since is an event id", details={"since": "invalid"})
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_id, "see the deployment of")
        view = deployment_view(session, record.id, int(since))
    if view is None:
        raise NotFound(f"model {record.id} has never been deployed")
    return jsonify(view)


@blueprint.get("/models/<model:model_id>/endpoints")
@allow(*any_role(), Role.WORKLOAD)
def model_endpoints(model_id: str) -> Response:
    """The endpoints of the model's ready replicas, for model_call (a workload: of its declared models)."""
    require_model_user(current_principal(), model_id)
    with gateway_context().backends.store.session() as session:
        record = find_model(session, model_id)
        return jsonify({"model_id": record.id, "endpoints": live_endpoints(session, record.id)})


@blueprint.get("/deployments")
@allow(*any_role())
def list_deployments() -> Response:
    """The caller's deployments (a platform_admin's: all) with status, replicas and endpoints (no events)."""
    owner = owner_scope(current_principal())
    query = select(Deployment.model_id).order_by(Deployment.model_id)
    if owner is not None:
        owned = select(ModelRecord.id).where(ModelRecord.owner_id == owner)
        query = query.where(Deployment.model_id.in_(owned))
    with gateway_context().backends.store.session() as session:
        ids = session.scalars(query).all()
        views = [deployment_view(session, model_id, since=2**62) for model_id in ids]
    return jsonify({"deployments": [v for v in views if v is not None]})


@blueprint.get("/nodes")
@allow(Role.AI_DEVELOPER, Role.PLATFORM_ADMIN)
def list_nodes() -> Response:
    """The node registry: load, labels and workloads as last reported."""
    with gateway_context().backends.store.session() as session:
        return jsonify({"nodes": node_rows(session)})
