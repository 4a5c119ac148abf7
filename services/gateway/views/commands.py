"""Controller commands: validated, published, and answered when the controller's acknowledgement arrives.

The sending and waiting is services.gateway.device_commands, which the portal's command form shares.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from canopy.errors import ValidationFailed
from canopy.telemetry.storage import command_view, device_command
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.device_commands import (
    DEFAULT_ACK_WAIT,
    MAX_ACK_WAIT,
    deliver_command,
    require_acknowledged,
)
from services.gateway.ownership import require_device_user
from services.gateway.views.telemetry import DEVICE_ROLES, WORKLOAD_DEVICE_ROLES, usable_device

blueprint = Blueprint("commands", __name__, url_prefix="/api/v1")


def _ack_wait(raw: Any) -> float:
    """The seconds to wait for an acknowledgement: 'timeout' in the body, else DEFAULT_ACK_WAIT."""
    if raw is None:
        return DEFAULT_ACK_WAIT
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw <= MAX_ACK_WAIT:
        raise ValidationFailed(
            f"timeout is a number of seconds above 0 and at most {MAX_ACK_WAIT:g}",
            details={"timeout": "invalid"},
        )
    return float(raw)


@blueprint.post("/devices/<device_id>/commands")
@allow(*WORKLOAD_DEVICE_ROLES)
def send_command(device_id: str) -> Response:
    """Validate a command against the controller's type, deliver it and return its acknowledgement."""
    record = usable_device(device_id, command=True)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    command_name = body.get("command")
    wait = _ack_wait(body.get("timeout"))
    name = command_name if isinstance(command_name, str) else None
    view = deliver_command(record, name, body.get("params", {}), wait)
    return jsonify(require_acknowledged(view, wait))


@blueprint.get("/devices/<device_id>/commands/<command_id>")
@allow(*DEVICE_ROLES)
def get_command(device_id: str, command_id: str) -> Response:
    """A command sent to a device and its acknowledgement, if any."""
    require_device_user(current_principal(), device_id)
    with gateway_context().backends.store.session() as session:
        return jsonify(command_view(device_command(session, device_id, command_id)))
