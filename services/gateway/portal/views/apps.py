"""The app developer's pages: their apps, uploading one, an app's declarations, running it, its instances."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from canopy.apps.records import AppInstance
from canopy.apps.repository import search_apps
from canopy.errors import CanopyError
from canopy.logs.query import RECENT_ON_PAGES, LogQuery, recent_lines
from canopy.roles import Role
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.ownership import require_instance_viewer
from services.gateway.portal import portal_blueprint
from services.gateway.portal.app_runs import (
    NOTICES,
    app_cards,
    app_page,
    deployment_events,
    instance_action,
    instance_page,
    instance_state,
    run_from_form,
)
from services.gateway.portal.forms import upload_problems
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate_count, render
from services.gateway.views.apps import UPLOAD_FIELD, UPLOADERS, app_repository
from services.gateway.views.instance_runs import find_instance

blueprint = portal_blueprint("apps")
DEVELOPERS = UPLOADERS
APP_PAGE = "apps/show.html"


@blueprint.get("/apps")
@allow(*DEVELOPERS)
def list_apps() -> tuple[str, int]:
    """The developer's apps (?all=1: every developer's, as REST lists them; an admin sees all), filtered."""
    principal = current_principal()
    everyone = principal.role is Role.PLATFORM_ADMIN or request.args.get("all") == "1"
    text = request.args.get("q", "").strip()
    with gateway_context().backends.store.session() as session:
        apps, total = search_apps(
            session, text, None if everyone else principal.user_id, PAGE_SIZE, page_offset()
        )
        paged = paginate_count(app_cards(session, apps), total)
    return render("apps/list.html", paged=paged, q=text, everyone=everyone)


@blueprint.get("/apps/upload")
@allow(*UPLOADERS)
def upload_form() -> tuple[str, int]:
    """The upload form (drag and drop with progress when JavaScript is on)."""
    return render("apps/upload.html", problems=[])


@blueprint.post("/apps/upload")
@allow(*UPLOADERS)
def upload() -> Response | tuple[str, int]:
    """Upload an app package through the REST upload path; a refusal lists its problems, storing nothing."""
    upload = request.files.get(UPLOAD_FIELD)
    if upload is None or not upload.filename:
        return render("apps/upload.html", status=400, problems=["file: choose an app package zip"])
    try:
        record = app_repository().upload(upload.stream, current_principal().user_id)
    except CanopyError as refused:
        return render("apps/upload.html", status=refused.status, problems=upload_problems(refused))
    return done("portal_apps.show_app", "uploaded", app_id=record.id)


@blueprint.get("/apps/<app_id>")
@allow(*DEVELOPERS)
def show_app(app_id: str) -> tuple[str, int]:
    """The models and device roles an app declares, its page port and requirements, and a run form."""
    return app_page(APP_PAGE, app_id)


@blueprint.post("/apps/<app_id>/run")
@allow(*DEVELOPERS)
def run_app(app_id: str) -> Response | tuple[str, int]:
    """Create an instance at the chosen location and start it; a refusal shows next to the location."""
    ran = run_from_form(APP_PAGE, app_id)
    return ran if isinstance(ran, tuple) else done("portal_apps.show_instance", "started", instance_id=ran)


@blueprint.get("/instances")
@allow(*DEVELOPERS)
def list_instances() -> tuple[str, int]:
    """The caller's instances (an admin's: all), newest first, with their state."""
    text = request.args.get("q", "").strip()
    with gateway_context().backends.store.session() as session:
        paged = instance_page(session, current_principal(), text)
    return render("apps/instances.html", notices=NOTICES, paged=paged, q=text)


def _instance_page(instance_id: str, status: int = 200, error: str = "") -> tuple[str, int]:
    """An instance's page: state, bindings, deployment progress, page link and actions."""
    principal = current_principal()
    with gateway_context().backends.store.session() as session:
        instance: AppInstance = find_instance(session, instance_id)
        require_instance_viewer(principal, instance.owner_id, instance.app.owner_id)
        state = instance_state(session, principal, instance)
        deployment = deployment_events(session, instance_id)
        logs = recent_lines(session, LogQuery(app_instance=instance.id, limit=RECENT_ON_PAGES))
    return render(
        "apps/instance.html",
        status,
        NOTICES,
        state=state,
        deployment=deployment,
        error=error,
        recent_logs=logs,
        logs_filter=f"--app-instance {instance.id}",
    )


@blueprint.get("/instances/<instance_id>")
@allow(*DEVELOPERS)
def show_instance(instance_id: str) -> tuple[str, int]:
    """One instance, to its user, its app's developer and platform_admin (as REST shows it)."""
    return _instance_page(instance_id)


@blueprint.post("/instances/<instance_id>/<any(start, stop, delete):action>")
@allow(*DEVELOPERS)
def act_on_instance(instance_id: str, action: str) -> Response | tuple[str, int]:
    """Start or stop (its user, its app's developer, an admin) or delete (its user, an admin) an instance."""
    refused = instance_action(current_principal(), instance_id, action)
    if refused is not None:
        return _instance_page(instance_id, refused.status, refused.message)
    if action == "delete":
        return done("portal_apps.list_instances", action)
    return done("portal_apps.show_instance", action, instance_id=instance_id)
