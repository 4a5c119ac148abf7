"""Device telemetry: readings posted by devices, latest values, live streams and controller commands.

POST .../telemetry is declared public because devices are not users: the view itself authenticates
the caller with the DEVICE credential (Authorization: Bearer <device token>) before anything else.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from sqlalchemy import select

from canopy.bus.typed import publish
from canopy.contracts import decode, topics
from canopy.contracts.devices import DeviceCommand, TelemetryReading, TelemetrySubmission
from canopy.devices.instances import device_status
from canopy.errors import BadRequest, NotFound, Timeout, Unauthorized, Unavailable
from canopy.roles import Role
from canopy.store.models import utcnow
from canopy.telemetry.directory import CachedDirectory, DeviceRecord
from canopy.telemetry.ingest import BAD_CREDENTIAL, UNKNOWN_DEVICE, Submission, assess, authenticate
from canopy.telemetry.metrics import report_refusal
from canopy.telemetry.models import CommandRecord, RefusalCount
from canopy.telemetry.registry import StoreDirectory
from canopy.telemetry.storage import add_refusals, command_view, latest, reading_view, refusals
from services.gateway.access import PUBLIC, allow
from services.gateway.context import gateway_context

blueprint = Blueprint("telemetry", __name__, url_prefix="/api/v1")
DEVICE_ROLES = (Role.PLATFORM_ADMIN, Role.APP_DEVELOPER, Role.END_USER)
MAX_ACK_WAIT = 30.0
KEEPALIVE_SECONDS = 10.0


def _directory() -> CachedDirectory:
    """The app's cached device directory, created on first use."""
    directory = current_app.extensions.get("canopy-devices")
    if directory is None:
        directory = CachedDirectory(StoreDirectory(gateway_context().backends.store), ttl=1.0)
        current_app.extensions["canopy-devices"] = directory
    return directory


def _device(device_id: str) -> DeviceRecord:
    """The device, or NotFound."""
    record = _directory().find(device_id)
    if record is None:
        raise NotFound(f"no device {device_id!r}; `canopy device list` shows the registered ones")
    return record


def _device_token() -> str:
    """The bearer credential a device presented."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@blueprint.post("/devices/<device_id>/telemetry")
@allow(PUBLIC)
def post_telemetry(device_id: str) -> tuple[Response, int]:
    """Authenticate a device by its own credential, then publish its reading (never the credential)."""
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    seq = body.get("seq")
    submission = Submission(
        device_id=device_id,
        reading=body.get("reading"),
        at=_timestamp(body.get("at")),
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None,
        source="http",
    )
    backends = gateway_context().backends
    record = _directory().find(device_id)
    now = datetime.now(UTC)
    verdict = authenticate(record, device_id, _device_token()) or assess(submission, record, now)
    if verdict.reading is None:
        device = report_refusal(backends.bus, submission, verdict, "gateway")
        with backends.store.session() as session:
            add_refusals(session, device, verdict.refusal, verdict.reason)
        if verdict.refusal == UNKNOWN_DEVICE:
            raise NotFound(verdict.reason)
        if verdict.refusal == BAD_CREDENTIAL:
            raise Unauthorized(f"{verdict.reason}; send 'Authorization: Bearer <device token>'")
        raise BadRequest(verdict.reason)
    message = TelemetrySubmission(
        device_id=device_id,
        reading=verdict.reading.reading,
        at=submission.at,
        seq=submission.seq,
        source="http",
    )
    publish(backends.bus, message, key=device_id)
    backends.bus.flush()
    return jsonify({"accepted": True, "device_id": device_id, "seq": submission.seq}), 202


def _timestamp(value: Any) -> datetime:
    """The reading's 'at' time, or now when absent; BadRequest when malformed."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError as exc:
            raise BadRequest(f"'at' is not an ISO 8601 time: {value[:40]!r}") from exc
    return datetime.now(UTC)


@blueprint.get("/devices/<device_id>/latest")
@allow(*DEVICE_ROLES)
def get_latest(device_id: str) -> Response:
    """The newest reading (or controller state), whether the device is online, and its refusals."""
    record = _device(device_id)
    with gateway_context().backends.store.session() as session:
        row = latest(session, device_id)
        counts = refusals(session, device_id)
        view = reading_view(row) if row is not None else None
    return jsonify(
        {
            "device_id": device_id,
            "device_type": record.device_type,
            "status": device_status(row.last_seen if row is not None else None, utcnow()),
            "last_seen": view["last_seen"] if view else None,
            "latest": view,
            "refused": counts,
        }
    )


@blueprint.get("/telemetry/refusals")
@allow(Role.PLATFORM_ADMIN)
def list_refusals() -> Response:
    """Every refusal counter, unknown devices included (as '(unknown)')."""
    with gateway_context().backends.store.session() as session:
        rows = session.scalars(select(RefusalCount).order_by(RefusalCount.device_id)).all()
        return jsonify(
            {
                "refusals": [
                    {"device_id": r.device_id, "kind": r.kind, "count": r.count, "last_reason": r.last_reason}
                    for r in rows
                ]
            }
        )


@blueprint.get("/devices/<device_id>/stream")
@allow(*DEVICE_ROLES)
def stream(device_id: str) -> Response:
    """New readings of a device as server-sent events; ?limit=N and ?timeout=S end the stream early."""
    _device(device_id)
    limit = request.args.get("limit", default=0, type=int)
    timeout = request.args.get("timeout", default=0.0, type=float)
    bus = gateway_context().backends.bus
    bus.ensure_topic(topics.DEVICE_TELEMETRY)
    consumer = bus.consumer(
        f"gateway-stream-{uuid.uuid4().hex}", [topics.DEVICE_TELEMETRY], from_beginning=False
    )

    def events() -> Iterator[str]:
        """The server-sent events of the stream; closes the consumer at the end."""
        sent, started, quiet_since = 0, time.monotonic(), time.monotonic()
        yield ": stream of device readings\n\n"
        try:
            while (not limit or sent < limit) and (not timeout or time.monotonic() - started < timeout):
                record = consumer.poll(0.5)
                if record is None or record.key != device_id:
                    if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                        quiet_since = time.monotonic()
                        yield ": keep-alive\n\n"
                    continue
                message = decode(record.value).message
                if isinstance(message, TelemetryReading):
                    sent += 1
                    quiet_since = time.monotonic()
                    yield f"event: reading\ndata: {json.dumps(message.model_dump(mode='json'))}\n\n"
        finally:
            consumer.close()

    return Response(stream_with_context(events()), mimetype="text/event-stream")


@blueprint.post("/devices/<device_id>/commands")
@allow(*DEVICE_ROLES)
def send_command(device_id: str) -> Response:
    """Validate a command against the controller's type, deliver it and return its acknowledgement."""
    record = _device(device_id)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    command_name = body.get("command")
    params = body.get("params", {})
    wait = min(float(body.get("timeout") or 5.0), MAX_ACK_WAIT)
    if record.kind != "controller":
        raise BadRequest(f"{device_id} is a {record.device_type} sensor; only controllers take commands")
    name, checked = record.check_command(command_name if isinstance(command_name, str) else None, params)
    backends = gateway_context().backends
    now = datetime.now(UTC)
    command = DeviceCommand(
        command_id=uuid.uuid4().hex,
        device_id=device_id,
        command=name,
        params=checked,
        issued_at=now,
        expires_at=now + timedelta(seconds=wait),
    )
    with backends.store.session() as session:
        session.add(
            CommandRecord(
                command_id=command.command_id,
                device_id=device_id,
                command=name,
                params=checked,
                issued_at=now,
            )
        )
    publish(backends.bus, command, key=device_id)
    backends.bus.flush()
    return jsonify(_await_ack(command.command_id, wait))


def _await_ack(command_id: str, wait: float) -> dict[str, Any]:
    """Poll the command record until it is acknowledged, failed or the wait is over."""
    deadline = time.monotonic() + wait
    store = gateway_context().backends.store
    while True:
        with store.session() as session:
            row = session.get(CommandRecord, command_id)
            view = command_view(row) if row is not None else None
        if view is not None and view["status"] == "acked":
            return view
        if view is not None and view["status"] == "failed":
            raise Unavailable(f"the controller did not carry out the command: {view['error']}", details=view)
        if time.monotonic() >= deadline:
            raise Timeout(
                f"the controller did not acknowledge command {command_id} within {wait:g} s; "
                f"GET /api/v1/devices/<id>/commands/{command_id} shows if it does later",
                details={"command_id": command_id},
            )
        time.sleep(0.02)


@blueprint.get("/devices/<device_id>/commands/<command_id>")
@allow(*DEVICE_ROLES)
def get_command(device_id: str, command_id: str) -> Response:
    """A command sent to a device and its acknowledgement, if any."""
    with gateway_context().backends.store.session() as session:
        row = session.get(CommandRecord, command_id)
        if row is None or row.device_id != device_id:
            raise NotFound(f"no command {command_id!r} for device {device_id!r}")
        return jsonify(command_view(row))
