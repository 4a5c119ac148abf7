"""What the app developer's and the end user's pages share: running an app at a location, instance states."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from canopy.apps.deploying import INSTANCE_REPLICAS, instance_manifest
from canopy.apps.locations import LocationFit, app_locations
from canopy.apps.manifest import AppManifest
from canopy.apps.records import AppInstance, AppRecord
from canopy.apps.repository import get_app
from canopy.deployments.records import deployment_view
from canopy.errors import CanopyError
from services.gateway.access import current_principal
from services.gateway.accounts import Principal
from services.gateway.context import gateway_context
from services.gateway.ownership import may_manage, may_see_instance
from services.gateway.portal.pages import PAGE_SIZE, Paged, page_offset, paginate_count, render
from services.gateway.views.instance_runs import PAGE_PREFIX, request_run
from services.gateway.views.instances import create, remove, visible_instances

LOCATION_FIELD = "location"
SHOWN_EVENTS = 10
# Notices the app and instance pages show after their forms (?done=<key>).
NOTICES = {
    "uploaded": "The app was uploaded.",
    "started": "The instance was created and asked to start; its state follows below.",
    "start": "The instance was asked to start.",
    "stop": "The instance was asked to stop.",
    "delete": "The instance was removed.",
}


@dataclass(frozen=True)
class AppCard:
    """An app with its manifest and the locations it can run at."""

    app: AppRecord
    manifest: AppManifest
    where: LocationFit


@dataclass(frozen=True)
class InstanceState:
    """An instance as a page shows it: its deployment's state and what the viewer may do with it."""

    instance: AppInstance
    bindings: dict[str, Any]
    status: str
    message: str
    running: bool
    wanted: bool
    page: str | None
    may_run: bool
    may_remove: bool


def app_cards(session: Session, apps: list[AppRecord]) -> list[AppCard]:
    """The apps with their manifests and fitting locations."""
    manifests = [AppManifest.model_validate_json(app.manifest) for app in apps]
    return [
        AppCard(app, manifest, where)
        for app, manifest, where in zip(apps, manifests, app_locations(session, manifests), strict=True)
    ]


def run_at(principal: Principal, app_id: str, location: str) -> str | CanopyError:
    """Create an instance of the app at `location` for the caller (as REST does) and start it.

    Its id, or the refusal the form shows next to its location field (binding explains itself).
    """
    try:
        instance_id = create(principal, app_id, location, None)
    except CanopyError as refused:
        if refused.status == 404:
            raise
        return refused
    request_run(principal, instance_id, INSTANCE_REPLICAS, {})
    return instance_id


def app_page(
    template: str, app_id: str, status: int = 200, problems: dict[str, str] | None = None
) -> tuple[str, int]:
    """An app's page (`template`): its card and run form, with a refused run's reason by its field."""
    with gateway_context().backends.store.session() as session:
        (card,) = app_cards(session, [get_app(session, app_id)])
    location = request.form.get(LOCATION_FIELD, "")
    return render(template, status, NOTICES, card=card, problems=problems or {}, location=location)


def run_from_form(template: str, app_id: str) -> str | tuple[str, int]:
    """Run the app at the posted location: the new instance's id, or its page again with the refusal."""
    ran = run_at(current_principal(), app_id, request.form.get(LOCATION_FIELD, ""))
    if isinstance(ran, CanopyError):
        return app_page(template, app_id, ran.status, {LOCATION_FIELD: ran.message})
    return ran


def instance_action(principal: Principal, instance_id: str, action: str) -> CanopyError | None:
    """Start, stop or delete an instance by REST's rules; the refusal to show on the page (or None).

    A caller who may not act on it, or an instance that is gone, gets the error page instead.
    """
    try:
        if action == "delete":
            remove(principal, instance_id)
        else:
            request_run(principal, instance_id, INSTANCE_REPLICAS if action == "start" else 0, {})
    except CanopyError as refused:
        if refused.status in (403, 404):
            raise
        return refused
    return None


def instance_state(session: Session, principal: Principal, instance: AppInstance) -> InstanceState:
    """The instance's deployment state, its page link when it runs, and the viewer's permitted actions."""
    view = deployment_view(session, instance.id)
    running = bool(view and view["endpoints"])
    has_page = instance_manifest(instance).page is not None
    may_open = may_manage(principal, instance.owner_id)
    return InstanceState(
        instance=instance,
        bindings=json.loads(instance.bindings),
        status=view["status"] if view else "never started",
        message=view["message"] if view else "",
        running=running,
        wanted=bool(view and view["desired_replicas"]),
        page=f"{PAGE_PREFIX}/{instance.id}/" if running and has_page and may_open else None,
        may_run=may_see_instance(principal, instance.owner_id, instance.app.owner_id),
        may_remove=may_open,
    )


def deployment_events(session: Session, instance_id: str) -> dict[str, Any] | None:
    """The instance's deployment with only its latest events (and a failure's last log lines)."""
    view = deployment_view(session, instance_id)
    if view is not None:
        view["events"] = view["events"][-SHOWN_EVENTS:]
    return view


def instance_page(session: Session, principal: Principal, text: str) -> Paged[InstanceState]:
    """One page of the instances the caller lists (as REST lists them), newest first, filtered by `text`."""
    query = visible_instances(principal)
    if text:
        pattern = f"%{text}%"
        query = query.join(AppRecord, AppInstance.app_id == AppRecord.id).where(
            or_(
                AppRecord.name.ilike(pattern),
                AppInstance.location.ilike(pattern),
                AppInstance.id.ilike(pattern),
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = query.order_by(None).order_by(AppInstance.created_at.desc(), AppInstance.id)
    found = session.scalars(newest.limit(PAGE_SIZE).offset(page_offset())).unique().all()
    return paginate_count([instance_state(session, principal, one) for one in found], total)
