"""Device telemetry: readings posted by devices, latest values and live streams (commands: commands.py).

POST .../telemetry is declared public because devices are not users: the view itself authenticates
the caller with the DEVICE credential (Authorization: Bearer <device token>) before anything else.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from canopy.bus.typed import publish
from canopy.contracts.devices import TelemetrySubmission
from canopy.devices.instances import device_status
from canopy.errors import BadRequest, NotFound, Unauthorized
from canopy.roles import Role
from canopy.store.models import utcnow
from canopy.telemetry.directory import CachedDirectory, DeviceRecord
from canopy.telemetry.ingest import BAD_CREDENTIAL, UNKNOWN_DEVICE, Submission, assess, authenticate
from canopy.telemetry.metrics import report_refusal
from canopy.telemetry.models import RefusalCount
from canopy.telemetry.registry import StoreDirectory
from canopy.telemetry.storage import add_refusals, device_latest, reading_view, refusals
from services.gateway.access import PUBLIC, allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_device_user

blueprint = Blueprint("telemetry", __name__, url_prefix="/api/v1")
DEVICE_ROLES = (Role.PLATFORM_ADMIN, Role.APP_DEVELOPER, Role.END_USER)
# The routes an app instance uses on its bound devices (services.gateway.ownership decides which).
WORKLOAD_DEVICE_ROLES = (*DEVICE_ROLES, Role.WORKLOAD)
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
        raise _no_device(device_id)
    return record


def _no_device(device_id: str) -> NotFound:
    """The refusal for a device id nobody registered."""
    return NotFound(f"no device {device_id!r}; `canopy device list` shows the registered ones")


def usable_device(device_id: str, *, command: bool = False) -> DeviceRecord:
    """The device, if the caller may use (or command) it; checked first, so refusals reveal nothing."""
    require_device_user(current_principal(), device_id, command=command)
    return _device(device_id)


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
@allow(*WORKLOAD_DEVICE_ROLES)
def get_latest(device_id: str) -> Response:
    """The newest reading (or controller state), whether the device is online, and its refusals."""
    require_device_user(current_principal(), device_id)
    # the device and its reading in one query (not the device directory, whose 1 s cache an app
    # polling once a second would miss on nearly every call)
    with gateway_context().backends.store.session() as session:
        found = device_latest(session, device_id)
        if found is None:
            raise _no_device(device_id)
        device_type, row = found
        counts = refusals(session, device_id)
    view = reading_view(row) if row is not None else None
    return jsonify(
        {
            "device_id": device_id,
            "device_type": device_type,
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
@allow(*WORKLOAD_DEVICE_ROLES)
def stream(device_id: str) -> Response:
    """New readings of a device as server-sent events; ?limit=N and ?timeout=S end the stream early.

    Streams are bounded per user and in total (429 beyond) and read from the gateway's one device
    feed; see services.gateway.slots for why they cannot starve ordinary requests.
    """
    usable_device(device_id)
    limit = _query_number("limit", int)
    timeout = _query_number("timeout", float)
    context, user = gateway_context(), current_principal().name
    context.slots.admit(user)
    try:
        readings = context.feed.subscribe(device_id)
    except BaseException:
        context.slots.release(user)
        raise

    def events() -> Iterator[str]:
        """The server-sent events of the stream."""
        sent, deadline = 0, time.monotonic() + timeout if timeout else float("inf")
        yield ": stream of device readings\n\n"
        while (not limit or sent < limit) and time.monotonic() < deadline:
            try:
                reading = readings.get(timeout=min(KEEPALIVE_SECONDS, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            sent += 1
            yield f"event: reading\ndata: {json.dumps(reading.model_dump(mode='json'))}\n\n"

    def finish() -> None:
        context.feed.unsubscribe(device_id, readings)
        context.slots.release(user)

    response = Response(events(), mimetype="text/event-stream")
    response.call_on_close(finish)
    return response


def _query_number(name: str, kind: type[int] | type[float]) -> float:
    """A non-negative number from the query string (0 when absent); BadRequest when malformed."""
    raw = request.args.get(name, "0")
    try:
        value = kind(raw)
    except ValueError:
        raise BadRequest(f"?{name} must be a non-negative number, not {raw[:20]!r}") from None
    if not 0 <= value < float("inf"):
        raise BadRequest(f"?{name} must be a non-negative number, not {raw[:20]!r}")
    return value
