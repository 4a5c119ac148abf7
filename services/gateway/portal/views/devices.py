"""The platform administrator's device pages: locations tree, types, registration, a device's live page.

Views are thin: the same domain functions and rules as the REST views (services/gateway/views/devices.py,
telemetry.py, commands.py). Registration is platform_admin only; a device's page and its readings
follow services.gateway.ownership.may_use_device, like GET /api/v1/devices/<id>/latest.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from canopy import devices
from canopy.devices.packages import register_device_package, register_type_package
from canopy.devices.search import counts_within, search_devices
from canopy.errors import BadRequest, CanopyError, ValidationFailed
from canopy.roles import Role
from canopy.telemetry.storage import command_view, device_command, latest, latest_of, refusals
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.device_commands import DEFAULT_ACK_WAIT, deliver_command, with_ack
from services.gateway.ownership import may_use_device, require_device_user
from services.gateway.portal import portal_blueprint
from services.gateway.portal.device_forms import (
    command_inputs,
    command_params,
    device_document,
    device_field_problems,
    parse_json_text,
)
from services.gateway.portal.device_tree import DeviceLine, location_tree
from services.gateway.portal.forms import field_problems, upload_problems
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate, paginate_count, render
from services.gateway.views.devices import READERS, with_broker_login
from services.gateway.views.telemetry import DEVICE_ROLES, usable_device

blueprint = portal_blueprint("devices")
NOTICES = {
    "type-created": "The device type was registered.",
    "type-unchanged": "That type was already registered with this very definition; nothing changed.",
    "types-uploaded": "Every type in the zip was registered.",
}
SHOWN_CHARACTERS = 120


def _session() -> AbstractContextManager[Session]:
    """A store session for one page."""
    return gateway_context().backends.store.session()


@blueprint.get("/devices")
@allow(Role.PLATFORM_ADMIN)
def tree() -> tuple[str, int]:
    """Locations as a tree with one page of the devices ?q= matches (id, type or location prefix)."""
    query = request.args.get("q", "").strip()
    now = datetime.now(UTC)
    with _session() as session:
        found = search_devices(session, query, page_offset(), PAGE_SIZE)
        seen = latest_of(session, (device.id for device, _ in found.devices))
        counts = counts_within(session, query)
        placed = []
        for device, kind in found.devices:
            last_seen = seen[device.id].last_seen if device.id in seen else None
            status = devices.device_status(last_seen, now)
            line = DeviceLine(device.id, device.type_name, kind, status, last_seen)
            placed.append((device.location_path, line))
    paged = paginate_count(placed, found.total)
    return render("devices/tree.html", paged=paged, roots=location_tree(placed, counts), q=query)


@blueprint.get("/devices/new")
@allow(Role.PLATFORM_ADMIN)
def new_device() -> tuple[str, int]:
    """The forms to register one device, or a zip of them."""
    return _registration_page()


def _registration_page(
    status: int = 200, problems: dict[str, str] | None = None, upload: list[str] | None = None
) -> tuple[str, int]:
    with _session() as session:
        types = [row.name for row, _ in devices.list_types(session)]
    form = request.form if request.method == "POST" else {}
    return render(
        "devices/new.html",
        status=status,
        types=types,
        transports=devices.TRANSPORTS,
        form=form,
        problems=problems or {},
        upload_problems=upload or [],
    )


@blueprint.post("/devices")
@allow(Role.PLATFORM_ADMIN)
def create_device() -> tuple[str, int]:
    """Register a device like POST /api/v1/devices; its credential is shown on this page only."""
    try:
        spec = devices.parse_device(device_document(request.form))
        with _session() as session:
            new = with_broker_login(devices.create_device(session, spec))
            registered = [("", new.device.id, new.device.type_name, new.device.location_path, new.credential)]
    except CanopyError as refused:
        return _registration_page(refused.status, problems=device_field_problems(refused))
    return render("devices/registered.html", status=201, registered=registered)


@blueprint.post("/devices/upload")
@allow(Role.PLATFORM_ADMIN)
def upload_devices() -> tuple[str, int]:
    """Register every device of a zip like POST /api/v1/devices/upload, or none; credentials shown once."""
    try:
        data = _uploaded_zip()
        with _session() as session:
            added = [(file, with_broker_login(new)) for file, new in register_device_package(session, data)]
            registered = [
                (file, n.device.id, n.device.type_name, n.device.location_path, n.credential)
                for file, n in added
            ]
    except CanopyError as refused:
        return _registration_page(refused.status, upload=upload_problems(refused))
    return render("devices/registered.html", status=201, registered=registered)


def _uploaded_zip() -> bytes:
    """The zip of the form's 'file' field; BadRequest when none was chosen."""
    stored: FileStorage | None = request.files.get("file")
    data = stored.read() if stored is not None else b""
    if not data:
        raise BadRequest("choose a zip file to upload")
    return data


@blueprint.get("/device-types")
@allow(*READERS)
def list_types() -> tuple[str, int]:
    """Device types with their device counts (?q= filters by name, kind or maker); admins get the forms."""
    return _types_page()


def _types_page(
    status: int = 200, problems: dict[str, str] | None = None, upload: list[str] | None = None
) -> tuple[str, int]:
    query = request.args.get("q", "").strip().lower()
    with _session() as session:
        rows = [
            (row.name, row.kind, row.spec.get("company", ""), row.spec.get("description", ""), count)
            for row, count in devices.list_types(session)
            if not query or any(query in str(part).lower() for part in (row.name, row.kind, row.spec))
        ]
    return render(
        "devices/types.html",
        status=status,
        notices=NOTICES,
        paged=paginate(rows),
        q=query,
        definition=request.form.get("definition", "") if request.method == "POST" else "",
        problems=problems or {},
        upload_problems=upload or [],
        admin=current_principal().role is Role.PLATFORM_ADMIN,
    )


@blueprint.post("/device-types")
@allow(Role.PLATFORM_ADMIN)
def create_type() -> Response | tuple[str, int]:
    """Register a type from its pasted JSON definition, like POST /api/v1/device-types."""
    try:
        spec = devices.parse_type(parse_json_text(request.form.get("definition", ""), "definition"))
        with _session() as session:
            change = devices.register_type(session, spec)
    except CanopyError as refused:
        return _types_page(refused.status, problems={"definition": refused.message})
    return done("portal_devices.list_types", f"type-{change.status}")


@blueprint.post("/device-types/upload")
@allow(Role.PLATFORM_ADMIN)
def upload_types() -> Response | tuple[str, int]:
    """Register every type of a zip like POST /api/v1/device-types/upload, or none."""
    try:
        data = _uploaded_zip()
        with _session() as session:
            register_type_package(session, data)
    except CanopyError as refused:
        return _types_page(refused.status, upload=upload_problems(refused))
    return done("portal_devices.list_types", "types-uploaded")


@blueprint.get("/devices/<device_id>")
@allow(*DEVICE_ROLES)
def show_device(device_id: str) -> tuple[str, int]:
    """A device: its details, latest reading, live chart and, for controllers, the command forms."""
    require_device_user(current_principal(), device_id)
    return _device_page(device_id)


def _device_page(
    device_id: str, status: int = 200, problems: dict[str, str] | None = None
) -> tuple[str, int]:
    command_id = request.args.get("command", "")
    with _session() as session:
        device = devices.get_device(session, device_id)
        row = devices.get_type(session, device.type_name)
        spec = devices.spec_of(row)
        stored = latest(session, device_id)
        refused = refusals(session, device_id)
        sent = command_view(device_command(session, device_id, command_id)) if command_id else None
        facts = {
            "type": device.type_name,
            "kind": row.kind,
            "location": device.location_path,
            "transport": device.transport,
            "registered": device.created_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        }
        labels, config = dict(device.labels), dict(device.config)
    if sent is not None:
        sent = with_ack(sent, gateway_context().feed.recent_ack(sent["command_id"]))
    last_seen = stored.last_seen if stored is not None else None
    reading = stored.reading if stored is not None else {}
    fields = spec.reported
    table = [
        (name, _shown(value), fields[name].unit if name in fields else "") for name, value in reading.items()
    ]
    commandable = row.kind == "controller" and may_use_device(current_principal(), device_id, command=True)
    commands = [(name, command, command_inputs(command)) for name, command in spec.commands.items()]
    return render(
        "devices/device.html",
        status=status,
        device_id=device_id,
        facts=facts,
        labels=labels,
        config=config,
        status_text=devices.device_status(last_seen, datetime.now(UTC)),
        last_seen=last_seen,
        reading_at=stored.at if stored is not None else None,
        table=table,
        refused=refused,
        commands=commands if commandable else [],
        sent=sent,
        problems=problems or {},
        chosen=request.form.get("command", "") if request.method == "POST" else "",
        form=request.form if request.method == "POST" else {},
        wait=DEFAULT_ACK_WAIT,
    )


def _shown(value: Any) -> str:
    """A reading value as the table shows it: long texts (images, arrays) cut short."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SHOWN_CHARACTERS else f"{text[:SHOWN_CHARACTERS]}… ({len(text)} characters)"


@blueprint.get("/devices/<device_id>/readings.json")
@allow(*DEVICE_ROLES)
def readings(device_id: str) -> Response:
    """The device's recent readings as chart JSON (numeric fields become series), from the gateway's feed."""
    usable_device(device_id)

    def stored_latest() -> tuple[datetime, dict[str, Any]] | None:
        with _session() as session:
            row = latest(session, device_id)
            return (row.at, dict(row.reading)) if row is not None else None

    return jsonify(gateway_context().feed.recent(device_id, stored_latest).chart())


@blueprint.post("/devices/<device_id>/commands")
@allow(*DEVICE_ROLES)
def send_command(device_id: str) -> Response | tuple[str, int]:
    """Send a command like POST /api/v1/devices/<id>/commands, wait for its acknowledgement, show it."""
    record = usable_device(device_id, command=True)
    name = request.form.get("command") or None
    with _session() as session:
        spec = devices.spec_of(devices.get_type(session, record.device_type))
    try:
        params = command_params(spec.commands.get(name or ""), request.form)
        view = deliver_command(record, name, params, DEFAULT_ACK_WAIT)
    except ValidationFailed as refused:
        return _device_page(device_id, status=refused.status, problems=_command_problems(refused, spec, name))
    return done("portal_devices.show_device", device_id=device_id, command=view["command_id"])


def _command_problems(refused: CanopyError, spec: devices.DeviceTypeSpec, name: str | None) -> dict[str, str]:
    """A refused command's problems by parameter input; the rest shows at the command itself."""
    command = spec.commands.get(name or "")
    inputs = set(command.parameters) if command is not None else set()
    problems: dict[str, str] = {}
    for key, problem in field_problems(refused, "command").items():
        field = key if key in inputs else "command"
        problems[field] = f"{problems[field]}; {key}: {problem}" if field in problems else problem
    return problems
