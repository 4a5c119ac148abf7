"""Sending a controller command and waiting for its acknowledgement: shared by the REST API and the portal.

The request waits on a future that the gateway's device feed completes from the bus (no polling of
the store); a wait takes one of the caller's long-lived slots, like a stream.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from canopy.bus.typed import publish
from canopy.contracts.devices import CommandAck, DeviceCommand
from canopy.errors import BadRequest, Timeout, Unavailable
from canopy.telemetry.directory import DeviceRecord
from canopy.telemetry.models import CommandRecord
from canopy.telemetry.storage import command_view
from services.gateway.access import current_principal
from services.gateway.context import gateway_context

MAX_ACK_WAIT = 30.0
DEFAULT_ACK_WAIT = 5.0


def deliver_command(record: DeviceRecord, command: str | None, params: Any, wait: float) -> dict[str, Any]:
    """Validate a command against the controller's type, publish it and wait up to `wait` seconds.

    Returns the command's view: status 'acked', 'failed' (with the controller's error) or 'pending'
    (no acknowledgement in time). BadRequest for a sensor, ValidationFailed for bad parameters.
    """
    if record.kind != "controller":
        raise BadRequest(
            f"{record.device_id} is a {record.device_type} sensor; only controllers take commands"
        )
    name, checked = record.check_command(command, params)
    context = gateway_context()
    backends = context.backends
    now = datetime.now(UTC)
    message = DeviceCommand(
        command_id=uuid.uuid4().hex,
        device_id=record.device_id,
        command=name,
        params=checked,
        issued_at=now,
        expires_at=now + timedelta(seconds=wait),
    )
    row = CommandRecord(
        command_id=message.command_id, device_id=record.device_id, command=name, params=checked, issued_at=now
    )
    with context.slots.hold(current_principal().name):
        with backends.store.session() as session:
            session.add(row)
        waiter = context.feed.expect(message.command_id, record.device_id)
        try:
            publish(backends.bus, message, key=record.device_id)
            backends.bus.flush()
            ack = waiter.wait(wait)
        finally:
            context.feed.forget(message.command_id)
    return _settled(row, ack)


def _settled(sent: CommandRecord, ack: CommandAck | None) -> dict[str, Any]:
    """The command with its acknowledgement, if any.

    The acknowledgement normally arrives through the device feed; the store is read once at the end,
    in case the device manager recorded an acknowledgement the feed did not see.
    """
    if ack is not None:
        return with_ack(command_view(sent), ack)
    with gateway_context().backends.store.session() as session:
        row = session.get(CommandRecord, sent.command_id)
        return command_view(row) if row is not None else command_view(sent)


def with_ack(view: dict[str, Any], ack: CommandAck | None) -> dict[str, Any]:
    """A command's view with an acknowledgement the store may not hold yet (the device manager writes it)."""
    if ack is None or view["status"] != "pending":
        return view
    status = "acked" if ack.ok else "failed"
    return {
        **view,
        "status": status,
        "state": ack.state,
        "error": ack.error or None,
        "acked_at": ack.at.isoformat(),
    }


def require_acknowledged(view: dict[str, Any], wait: float) -> dict[str, Any]:
    """The acknowledged command, or Unavailable when it failed, or Timeout when none came in time."""
    if view["status"] == "acked":
        return view
    if view["status"] == "failed":
        raise Unavailable(f"the controller did not carry out the command: {view['error']}", details=view)
    raise Timeout(
        f"the controller did not acknowledge command {view['command_id']} within {wait:g} s; "
        f"GET /api/v1/devices/<id>/commands/{view['command_id']} shows if it does later",
        details={"command_id": view["command_id"]},
    )
