"""The end user's pages: the catalogue of apps and where each runs, running or booking one, instances."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from canopy.apps.repository import search_apps
from canopy.errors import CanopyError, Conflict
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
from services.gateway.portal.booking_forms import (
    Clash,
    booking_body,
    booking_problems,
    clash_of,
    form_defaults,
    posted_values,
    zone_names,
)
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate_count, render
from services.gateway.portal.views.bookings import viewer_zone
from services.gateway.views.bookings import book

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
    """One app: its description, what it needs, where it can run, and its book form."""
    return app_page(APP_PAGE, app_id, **_book_form())


def _book_form(
    values: dict[str, Any] | None = None, problems: dict[str, str] | None = None, clash: Clash | None = None
) -> dict[str, Any]:
    """What the app page's book form shows: its values (defaults in the user's zone), problems, a clash."""
    with gateway_context().backends.store.session() as session:
        zone = viewer_zone(session, current_principal())
    return {
        "book": values or form_defaults(zone, datetime.now(UTC)),
        "book_problems": problems or {},
        "clash": clash,
        "zones": zone_names(),
        "user_zone": zone,
    }


@blueprint.post("/catalog/<app_id>/book")
@allow(*END_USERS)
def book_app(app_id: str) -> Response | tuple[str, int]:
    """Book the app at a location for a window (once, daily or cron) through the same function as REST.

    A refused booking shows its problem by the field (nothing is stored); a clash shows the booking in
    the way and the next free slot with a form to book that instead.
    """
    now = datetime.now(UTC)
    kind = request.form.get("kind", "once")
    values = posted_values(request.form)
    try:
        booking_id = book(current_principal(), booking_body(app_id, request.form, now), now)
    except CanopyError as refused:
        if refused.status in (403, 404):
            raise
        if isinstance(refused, Conflict) and (refused.details or {}).get("conflict"):
            shown = _book_form(values, clash=clash_of(refused, request.form.get("tz", "")))
        else:
            shown = _book_form(values, booking_problems(refused, kind))
        return app_page(APP_PAGE, app_id, refused.status, **shown)
    return done("portal_bookings.show", "booked", booking_id=booking_id)


@blueprint.post("/catalog/<app_id>/run")
@allow(*END_USERS)
def run_app(app_id: str) -> Response | tuple[str, int]:
    """Create the caller's instance of the app at the chosen location and start it now."""
    ran = run_from_form(APP_PAGE, app_id, **_book_form())
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
