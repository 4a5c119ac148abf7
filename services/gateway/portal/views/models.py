"""The AI developer's pages: their models, upload, deploy/scale/undeploy, live progress, try-it, charts.

Every action goes through the same domain functions and ownership rules as the REST views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from canopy.deployments.records import deployment_view, live_endpoints
from canopy.errors import BadRequest, CanopyError, Conflict, PayloadTooLarge
from canopy.logs.query import RECENT_ON_PAGES, LogQuery, recent_lines
from canopy.models import ModelManifest
from canopy.roles import Role
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import owner_scope
from services.gateway.portal import portal_blueprint
from services.gateway.portal.forms import field_problems, upload_problems
from services.gateway.portal.model_inputs import (
    answer_problems,
    input_controls,
    needs_multipart,
    prediction_body,
    prediction_text,
)
from services.gateway.portal.model_metrics import ReplicaMetrics
from services.gateway.portal.pages import (
    PAGE_SIZE,
    done,
    error_page,
    page_offset,
    paginate_count,
    render,
)
from services.gateway.views.deployments import (
    MAX_REPLICAS,
    managed_model,
    request_deploy,
    request_scale,
    request_undeploy,
)
from services.gateway.views.model_calls import forward_prediction
from services.gateway.views.models import UPLOAD_FIELD, model_repository, model_view, model_views

blueprint = portal_blueprint("models", "/models")
DEVELOPERS = (Role.AI_DEVELOPER, Role.PLATFORM_ADMIN)
SHOWN_EVENTS = 20
NOTICES = {
    "uploaded": "The model is uploaded. Deploy it below.",
    "deploy": "Deployment requested; its progress shows below.",
    "scale": "New replica count requested; its progress shows below.",
    "undeploy": "Undeploy requested; the replicas stop shortly.",
}


def replica_metrics() -> ReplicaMetrics:
    """The gateway's scraper of replica metrics (one per app)."""
    found: ReplicaMetrics = current_app.extensions.setdefault("canopy-replica-metrics", ReplicaMetrics())
    return found


@blueprint.get("")
@allow(*DEVELOPERS)
def list_models() -> tuple[str, int]:
    """The caller's models (a platform_admin's: all), filtered by name, with their deployment state."""
    query = request.args.get("q", "").strip()
    records, total = model_repository().page(
        owner_scope(current_principal()), query, page_offset(), PAGE_SIZE
    )
    with gateway_context().backends.store.session() as session:
        rows = model_views(records, session)
    return render("models/list.html", paged=paginate_count(rows, total), query=query)


@blueprint.get("/upload")
@allow(*DEVELOPERS)
def upload_form() -> tuple[str, int]:
    """The upload form: a drop zone for the package zip."""
    return render("models/upload.html", problems=[], message="")


@blueprint.post("/upload")
@allow(*DEVELOPERS)
def upload_model() -> Response | tuple[str, int]:
    """Store an uploaded package like the REST upload does; a refused one re-renders with its problems."""
    try:
        upload = request.files.get(UPLOAD_FIELD)
        if upload is None or not upload.filename:
            raise BadRequest("choose a model package zip to upload", details={UPLOAD_FIELD: "no file chosen"})
        record = model_repository().upload(upload.stream, current_principal().user_id)
    except (BadRequest, Conflict) as refused:
        return _refused_upload(refused)
    except RequestEntityTooLarge as too_large:
        return _refused_upload(PayloadTooLarge(too_large.description or "the package is too large"))
    return done("portal_models.show_model", "uploaded", model_id=record.id)


@blueprint.errorhandler(PayloadTooLarge)
def _too_large(error: PayloadTooLarge) -> Response | tuple[str, int]:
    """A body over the upload route's limit (refused before the view) re-renders the upload form."""
    if request.endpoint == "portal_models.upload_model":
        return _refused_upload(error)
    return error_page(error.status, error.message)


def _refused_upload(refused: CanopyError) -> tuple[str, int]:
    """The upload form with every problem of a refused package next to the file field."""
    problems = upload_problems(refused)
    message = refused.message if problems != [refused.message] else ""
    return render("models/upload.html", status=refused.status, problems=problems, message=message)


@blueprint.get("/<model_id>")
@allow(*DEVELOPERS)
def show_model(model_id: str) -> tuple[str, int]:
    """A model's details, deployment forms and live progress, try-it form and charts."""
    return _model_page(model_id)


@blueprint.post("/<model_id>/deploy")
@allow(*DEVELOPERS)
def deploy_model(model_id: str) -> Response | tuple[str, int]:
    """Deploy with the replicas and node labels of the form (the REST deploy's request)."""
    return _deployment_action(model_id, "deploy", lambda: request_deploy(model_id, _form_body()))


@blueprint.post("/<model_id>/scale")
@allow(*DEVELOPERS)
def scale_model(model_id: str) -> Response | tuple[str, int]:
    """Scale to the form's replica count (the REST scale's request)."""
    return _deployment_action(model_id, "scale", lambda: request_scale(model_id, _form_body()))


@blueprint.post("/<model_id>/undeploy")
@allow(*DEVELOPERS)
def undeploy_model(model_id: str) -> Response | tuple[str, int]:
    """Stop every replica (the REST undeploy's request)."""
    return _deployment_action(model_id, "undeploy", lambda: request_undeploy(model_id))


@blueprint.post("/<model_id>/try")
@allow(*DEVELOPERS)
def try_model(model_id: str) -> tuple[str, int]:
    """Send the try-it form to a ready replica, as a model call does; the prediction or each problem."""
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_id, "try")
        manifest = ModelManifest.model_validate_json(record.manifest)
    controls = input_controls(manifest)
    body, content_type = prediction_body(controls, request.form, request.files)
    tried = {control.name: request.form.get(control.name, "") for control in controls}
    try:
        answer = forward_prediction(record.id, body, {"Content-Type": content_type})
    except CanopyError as refused:
        return _model_page(model_id, refused.status, try_error=refused.message, tried=tried)
    data = answer.get_data()
    if answer.status_code < 400:
        return _model_page(model_id, tried=tried, prediction=prediction_text(data))
    names = {control.name for control in controls}
    by_field, general = answer_problems(answer.status_code, data, names)
    return _model_page(model_id, answer.status_code, try_problems=by_field, try_error=general, tried=tried)


@blueprint.get("/<model_id>/metrics.json")
@allow(*DEVELOPERS)
def model_metrics(model_id: str) -> Response:
    """Chart JSON of the ready replicas: ?chart=throughput (requests/s) or latency (ms)."""
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_id, "see the metrics of")
        endpoints = live_endpoints(session, record.id)
    kind = "latency" if request.args.get("chart") == "latency" else "throughput"
    return jsonify(replica_metrics().chart(record.id, endpoints, kind))


def _form_body() -> dict[str, Any]:
    """The deploy/scale form as the REST body: replicas (a number when it is one) and node labels."""
    body: dict[str, Any] = {}
    replicas = request.form.get("replicas", "").strip()
    if replicas:
        body["replicas"] = int(replicas) if replicas.isdigit() else replicas
    labels = request.form.get("node_labels", "").replace(",", " ").split()
    if labels:
        body["node_labels"] = labels
    return body


def _deployment_action(model_id: str, action: str, send: Callable[[], object]) -> Response | tuple[str, int]:
    """Run a deploy/scale/undeploy request; 303 back to the page, or the page with the problem."""
    try:
        send()
    except (BadRequest, Conflict) as refused:
        default = "replicas" if action != "undeploy" else "undeploy"
        problems = {name: refused.message for name in field_problems(refused, default)}
        return _model_page(model_id, refused.status, deploy_problems={action: problems})
    return done("portal_models.show_model", action, model_id=model_id)


def _model_page(model_id: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """The model page: facts, input schema, deployment (live), forms, try-it and the current figures."""
    with gateway_context().backends.store.session() as session:
        record = managed_model(session, model_id, "see the deployment of")
        model = model_view(record, session, with_manifest=True)
        deployment = deployment_view(session, record.id)
        endpoints = live_endpoints(session, record.id)
        logs = recent_lines(session, LogQuery(model=record.id, limit=RECENT_ON_PAGES))
    manifest = ModelManifest.model_validate_json(record.manifest)
    points, totals = replica_metrics().sample(record.id, endpoints)
    controls = input_controls(manifest)
    return render(
        "models/show.html",
        status=status,
        notices=NOTICES,
        model=model,
        manifest=manifest,
        deployment=deployment,
        events=(deployment or {}).get("events", [])[-SHOWN_EVENTS:],
        controls=controls,
        multipart=needs_multipart(controls),
        latest=points[-1] if points else None,
        totals=totals,
        max_replicas=MAX_REPLICAS,
        deploy_problems=context.pop("deploy_problems", {}),
        try_problems=context.pop("try_problems", {}),
        try_error=context.pop("try_error", ""),
        tried=context.pop("tried", {}),
        prediction=context.pop("prediction", ""),
        recent_logs=logs,
        logs_filter=f"--model {record.id}",
    )
