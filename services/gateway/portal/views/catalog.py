"""The end user's pages: the catalogue of apps with where each can run, running one, and their instances."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from canopy.apps.repository import search_apps
from canopy.roles import Role
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.portal import portal_blueprint
from services.gateway.portal.app_runs import (
    NOTICES,
    app_cards,
    app_page,
    instance_action,
    instance_page,
    run_from_form,
)
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate_count, render

blueprint = portal_blueprint("catalog")
END_USERS = (Role.END_USER,)
APP_PAGE = "catalog/app.html"


@blueprint.get("/catalog")
@allow(*END_USERS)
def browse() -> tuple[str, int]:
    """Every app (as REST lists them to an end user), filtered, with the locations it can run at now."""
    text = request.args.get("q", "").strip()
    with gateway_context().backends.store.session() as session:
        apps, total = search_apps(session, text, None, PAGE_SIZE, page_offset())
        paged = paginate_count(app_cards(session, apps), total)
    return render("catalog/browse.html", paged=paged, q=text)


@blueprint.get("/catalog/<app_id>")
@allow(*END_USERS)
def show_app(app_id: str) -> tuple[str, int]:
    """One app: its description, what it needs, and where it can run."""
    return app_page(APP_PAGE, app_id)


@blueprint.post("/catalog/<app_id>/run")
@allow(*END_USERS)
def run_app(app_id: str) -> Response | tuple[str, int]:
    """Create the caller's instance of the app at the chosen location and start it now."""
    ran = run_from_form(APP_PAGE, app_id)
    return ran if isinstance(ran, tuple) else done("portal_catalog.my_instances", "started")


def _my_page(status: int = 200, error: str = "") -> tuple[str, int]:
    """The caller's instances, newest first, with their state, page link and actions."""
    text = request.args.get("q", "").strip()
    with gateway_context().backends.store.session() as session:
        paged = instance_page(session, current_principal(), text)
    return render("catalog/mine.html", status, NOTICES, paged=paged, q=text, error=error)


@blueprint.get("/my-apps")
@allow(*END_USERS)
def my_instances() -> tuple[str, int]:
    """The end user's own instances."""
    return _my_page()


@blueprint.post("/my-apps/<instance_id>/<any(start, stop, delete):action>")
@allow(*END_USERS)
def act_on_instance(instance_id: str, action: str) -> Response | tuple[str, int]:
    """Start, stop or delete one of the caller's instances (REST's rules: its user may)."""
    refused = instance_action(current_principal(), instance_id, action)
    if refused is not None:
        return _my_page(refused.status, refused.message)
    return done("portal_catalog.my_instances", action)
