"""Controller commands: validated, published, and answered when the controller's acknowledgement arrives.

The request waits on a future that the gateway's device feed completes from the bus (no polling of
the store); a wait takes one of the caller's long-lived slots, like a stream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from canopy.bus.typed import publish
from canopy.contracts.devices import CommandAck, DeviceCommand
from canopy.errors import BadRequest, NotFound, Timeout, Unavailable, ValidationFailed
from canopy.telemetry.models import CommandRecord
from canopy.telemetry.storage import command_view
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_device_user
from services.gateway.views.telemetry import DEVICE_ROLES, WORKLOAD_DEVICE_ROLES, usable_device

blueprint = Blueprint("commands", __name__, url_prefix="/api/v1")
MAX_ACK_WAIT = 30.0
DEFAULT_ACK_WAIT = 5.0


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
    params = body.get("params", {})
    wait = _ack_wait(body.get("timeout"))
    if record.kind != "controller":
        raise BadRequest(f"{device_id} is a {record.device_type} sensor; only controllers take commands")
    name, checked = record.check_command(command_name if isinstance(command_name, str) else None, params)
    context = gateway_context()
    backends = context.backends
    now = datetime.now(UTC)
    command = DeviceCommand(
        command_id=uuid.uuid4().hex,
        device_id=device_id,
        command=name,
        params=checked,
        issued_at=now,
        expires_at=now + timedelta(seconds=wait),
    )
    row = CommandRecord(
        command_id=command.command_id, device_id=device_id, command=name, params=checked, issued_at=now
    )
    with context.slots.hold(current_principal().name):
        with backends.store.session() as session:
            session.add(row)
        waiter = context.feed.expect(command.command_id, device_id)
        try:
            publish(backends.bus, command, key=device_id)
            backends.bus.flush()
            ack = waiter.wait(wait)
        finally:
            context.feed.forget(command.command_id)
    return jsonify(_outcome(row, ack, wait))


def _outcome(sent: CommandRecord, ack: CommandAck | None, wait: float) -> dict[str, Any]:
    """The acknowledged command, or Unavailable when it failed, or Timeout when none came in time.

    The acknowledgement normally arrives through the device feed; the store is read once at the end,
    in case the device manager recorded an acknowledgement the feed did not see.
    """
    if ack is not None:
        sent.status = "acked" if ack.ok else "failed"
        sent.state, sent.error, sent.acked_at = ack.state, ack.error, ack.at
        view = command_view(sent)
    else:
        with gateway_context().backends.store.session() as session:
            row = session.get(CommandRecord, sent.command_id)
            view = command_view(row) if row is not None else command_view(sent)
    if view["status"] == "acked":
        return view
    if view["status"] == "failed":
        raise Unavailable(f"the controller did not carry out the command: {view['error']}", details=view)
    raise Timeout(
        f"the controller did not acknowledge command {sent.command_id} within {wait:g} s; "
        f"GET /api/v1/devices/<id>/commands/{sent.command_id} shows if it does later",
        details={"command_id": sent.command_id},
    )


@blueprint.get("/devices/<device_id>/commands/<command_id>")
@allow(*DEVICE_ROLES)
def get_command(device_id: str, command_id: str) -> Response:
    """A command sent to a device and its acknowledgement, if any."""
    require_device_user(current_principal(), device_id)
    with gateway_context().backends.store.session() as session:
        row = session.get(CommandRecord, command_id)
        if row is None or row.device_id != device_id:
            raise NotFound(f"no command {command_id!r} for device {device_id!r}")
        return jsonify(command_view(row))
