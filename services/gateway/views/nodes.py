"""Node enrolment: a platform_admin adds or removes a node; an agent joins with its token and public key."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, jsonify
from flask.blueprints import Blueprint

from canopy.bus.kafka_acl import node_user, provision_node, unprovision
from canopy.errors import ValidationFailed
from canopy.nodes.enrolment import DEFAULT_ADDRESSES, JOIN_TOKEN_TTL, add_node, join_node, remove_node
from canopy.roles import Role
from canopy.workloads.commands import load_or_create_signing_key, public_pem
from services.gateway.access import PUBLIC, allow
from services.gateway.context import gateway_context
from services.gateway.views.helpers import json_body

blueprint = Blueprint("nodes", __name__, url_prefix="/api/v1")


@blueprint.post("/nodes")
@allow(Role.PLATFORM_ADMIN)
def create_node() -> Response:
    """Add a node (or re-issue its join token) and answer the one-time token its agent joins with."""
    body = json_body("node_id")
    addresses = body.get("addresses") or list(DEFAULT_ADDRESSES)
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise ValidationFailed("addresses is a list of strings", details={"addresses": "invalid"})
    with gateway_context().backends.store.session() as session:
        token = add_node(session, body["node_id"], addresses, datetime.now(UTC))
    answer = {
        "node_id": body["node_id"],
        "addresses": addresses,
        "join_token": token,
        "expires_in_seconds": int(JOIN_TOKEN_TTL.total_seconds()),
    }
    return Response(response=jsonify(answer).get_data(), status=201, mimetype="application/json")


@blueprint.post("/nodes/<node_id>/join")
@allow(PUBLIC)
def join(node_id: str) -> Response:
    """Redeem a join token with the agent's public key; answer the command key and any Kafka login.

    The login comes with the platform's topic prefix, the only names its ACLs let the agent use.
    """
    body = json_body("token", "public_key")
    backends = gateway_context().backends
    with backends.store.session() as session:
        join_node(session, node_id, body["token"], body["public_key"], datetime.now(UTC))
        login = provision_node(backends.config, node_id)
    kafka = None
    if login is not None:
        prefix = backends.config.topic_prefix
        kafka = {"username": login.username, "password": login.password, "topic_prefix": prefix}
    commands_key = public_pem(load_or_create_signing_key(backends.config.home))
    return jsonify({"node_id": node_id, "commands_public_key": commands_key, "kafka": kafka})


@blueprint.delete("/nodes/<node_id>")
@allow(Role.PLATFORM_ADMIN)
def delete_node(node_id: str) -> Response:
    """Remove a node: its key verifies nothing more and its Kafka login stops working."""
    retire_node(node_id)
    return Response(status=204)


def retire_node(node_id: str) -> None:
    """Forget a node's key and remove its Kafka login (NotFound for an unknown node); the portal's too."""
    backends = gateway_context().backends
    with backends.store.session() as session:
        remove_node(session, node_id)
        unprovision(backends.config, node_user(node_id))
