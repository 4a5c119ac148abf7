"""Model packages: upload, list, show and delete."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from canopy.deployments.records import deployment_summaries, deployment_summary
from canopy.errors import BadRequest
from canopy.models import ModelRecord, ModelRepository
from canopy.roles import Role
from services.gateway.access import allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_model_manager

blueprint = Blueprint("models", __name__, url_prefix="/api/v1")
UPLOAD_FIELD = "file"
WORKSPACES_DIR = "uploads/models"


def model_repository() -> ModelRepository:
    """The model repository on this gateway's backends, with upload workspaces under CANOPY_HOME."""
    backends = gateway_context().backends
    return ModelRepository(backends.store, backends.blob, backends.config.home / WORKSPACES_DIR)


def model_view(record: ModelRecord, session: Session, *, with_manifest: bool = False) -> dict[str, Any]:
    """The JSON shape of a model record."""
    return _view(record, deployment_summary(session, record.id), with_manifest)


def model_views(records: Sequence[ModelRecord], session: Session) -> list[dict[str, Any]]:
    """model_view of each record, their deployments read together (a list page, the API's list)."""
    summaries = deployment_summaries(session, [record.id for record in records])
    return [_view(record, summaries[record.id], False) for record in records]


def _view(record: ModelRecord, summary: dict[str, Any], with_manifest: bool) -> dict[str, Any]:
    """The JSON shape of a record with its deployment summary."""
    manifest = json.loads(record.manifest)
    view: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "version": record.version,
        "description": record.description,
        "framework": record.framework,
        "legacy": manifest["legacy"],
        "status": record.status,
        "owner": record.owner.name if record.owner else None,
        "size": record.size,
        "sha256": record.sha256,
        "created_at": record.created_at.isoformat(),
    }
    view.update(summary)
    if with_manifest:
        view["manifest"] = manifest
    return view


@blueprint.post("/models")
@allow(Role.AI_DEVELOPER, Role.PLATFORM_ADMIN)
def upload_model() -> tuple[Response, int]:
    """Upload a model package zip (multipart field 'file'); refused packages leave nothing stored."""
    upload = request.files.get(UPLOAD_FIELD)
    if upload is None:
        raise BadRequest(f"send the model package zip as the multipart form field {UPLOAD_FIELD!r}")
    record = model_repository().upload(upload.stream, current_principal().user_id)
    with gateway_context().backends.store.session() as session:
        return jsonify(model_view(record, session, with_manifest=True)), 201


@blueprint.get("/models")
@allow(*any_role())
def list_models() -> Response:
    """Every model."""
    records = model_repository().list()
    with gateway_context().backends.store.session() as session:
        return jsonify({"models": model_views(records, session)})


@blueprint.get("/models/<model:model_id>")
@allow(*any_role())
def show_model(model_id: str) -> Response:
    """One model with its manifest: by id, `owner/name`, or the name of one of the caller's own."""
    record = model_repository().get(model_id, current_principal().user_id)
    with gateway_context().backends.store.session() as session:
        return jsonify(model_view(record, session, with_manifest=True))


@blueprint.delete("/models/<model:model_id>")
@allow(Role.AI_DEVELOPER, Role.PLATFORM_ADMIN)
def delete_model(model_id: str) -> tuple[str, int]:
    """Delete a model's record and package (its owner or a platform_admin)."""
    principal = current_principal()
    model_repository().delete(
        model_id, principal.user_id, lambda record: require_model_manager(principal, record, "delete")
    )
    return "", 204
