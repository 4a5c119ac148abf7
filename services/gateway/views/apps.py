"""App packages: upload, list, show and delete.

Every signed-in role may read apps (end users pick the apps they book); app developers and
platform_admin upload them; an app's owner or a platform_admin deletes it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from canopy.apps.records import AppRecord
from canopy.apps.repository import AppRepository
from canopy.errors import BadRequest
from canopy.roles import Role
from services.gateway.access import allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_app_manager

blueprint = Blueprint("apps", __name__, url_prefix="/api/v1")
UPLOAD_FIELD = "file"
WORKSPACES_DIR = "uploads/apps"
UPLOADERS = (Role.APP_DEVELOPER, Role.PLATFORM_ADMIN)


def app_repository() -> AppRepository:
    """The app repository on this gateway's backends, with upload workspaces under CANOPY_HOME."""
    backends = gateway_context().backends
    return AppRepository(backends.store, backends.blob, backends.config.home / WORKSPACES_DIR)


def app_view(record: AppRecord, *, with_manifest: bool = False) -> dict[str, Any]:
    """The JSON shape of an app: identity, entry, page, and the models and device roles it declares."""
    manifest = json.loads(record.manifest)
    view: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "version": record.version,
        "description": record.description,
        "format": record.format,
        "owner": record.owner.name if record.owner else None,
        "entry": manifest["entry"],
        "page": manifest["page"],
        "database": manifest["database"],
        "models": manifest["models"],
        "devices": manifest["devices"],
        "size": record.size,
        "sha256": record.sha256,
        "created_at": record.created_at.isoformat(),
    }
    if with_manifest:
        view["manifest"] = manifest
    return view


@blueprint.post("/apps")
@allow(*UPLOADERS)
def upload_app() -> tuple[Response, int]:
    """Upload an app package zip (multipart field 'file'); refused packages leave nothing stored."""
    upload = request.files.get(UPLOAD_FIELD)
    if upload is None:
        raise BadRequest(f"send the app package zip as the multipart form field {UPLOAD_FIELD!r}")
    record = app_repository().upload(upload.stream, current_principal().user_id)
    return jsonify(app_view(record, with_manifest=True)), 201


@blueprint.get("/apps")
@allow(*any_role())
def list_apps() -> Response:
    """Every app."""
    return jsonify({"apps": [app_view(record) for record in app_repository().list()]})


@blueprint.get("/apps/<app_id>")
@allow(*any_role())
def show_app(app_id: str) -> Response:
    """One app with its normalised manifest."""
    return jsonify(app_view(app_repository().get(app_id), with_manifest=True))


@blueprint.delete("/apps/<app_id>")
@allow(*UPLOADERS)
def delete_app(app_id: str) -> tuple[str, int]:
    """Delete an app's record and package (its owner or a platform_admin; 409 while it has instances)."""
    principal = current_principal()
    app_repository().delete(app_id, lambda record: require_app_manager(principal, record, "delete"))
    return "", 204
