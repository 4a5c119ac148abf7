"""Model calls through the gateway: POST /api/v1/models/<model>/predict, forwarded to a ready replica.

An app on the docker runtime reaches the gateway and nothing else (replicas publish on the host's
127.0.0.1, and workload containers cannot reach each other), so `model_call` inside an app instance
comes here. A workload may call only its declared models, as for /endpoints; the gateway is also
where that scope is enforced for every runtime.
"""

from __future__ import annotations

import itertools

import urllib3
from flask import Blueprint, Response, request

from canopy.deployments.records import live_endpoints
from canopy.errors import Unavailable
from canopy.models.repository import resolve_model_id
from canopy.roles import Role
from services.gateway.access import allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_model_user

blueprint = Blueprint("model_calls", __name__, url_prefix="/api/v1")
FORWARDED = ("Content-Type", "Accept")
_POOL = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=5, read=60))
_TURN = itertools.count()


@blueprint.post("/models/<model:model_id>/predict")
@allow(*any_role(), Role.WORKLOAD)
def predict(model_id: str) -> Response:
    """Send the body (JSON inputs or a multipart image) to one ready replica; answer what it answers."""
    principal = current_principal()
    require_model_user(principal, model_id)
    with gateway_context().backends.store.session() as session:
        record_id = resolve_model_id(session, model_id, principal.user_id)
        endpoints = live_endpoints(session, record_id)
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    return _send(record_id, endpoints, request.get_data(), headers)


def forward_prediction(model_id: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST a prediction body to one ready replica of the model (round robin); what it answered.

    Unavailable when the model has no ready replica or none of them answers.
    """
    with gateway_context().backends.store.session() as session:
        endpoints = live_endpoints(session, model_id)
    return _send(model_id, endpoints, body, headers)


def _send(model_id: str, endpoints: list[str], body: bytes, headers: dict[str, str]) -> Response:
    """POST the body to one of the model's ready `endpoints` (round robin), trying the next on failure."""
    if not endpoints:
        raise Unavailable(f"model {model_id} has no ready replica; deploy it (`canopy model deploy`)")
    start = next(_TURN)
    for offset in range(len(endpoints)):
        endpoint = endpoints[(start + offset) % len(endpoints)].rstrip("/")
        try:
            answer = _POOL.request("POST", f"{endpoint}/predict", body=body, headers=headers)
        except urllib3.exceptions.HTTPError:
            continue  # refused or dropped: try the next replica
        kind = answer.headers.get("Content-Type", "application/json")
        return Response(answer.data, status=answer.status, content_type=kind)
    raise Unavailable(f"no replica of model {model_id} answered ({', '.join(endpoints)})")
