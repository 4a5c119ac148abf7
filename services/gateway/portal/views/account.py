"""Signing in and out of the portal, the home page per role, and changing one's own password."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from canopy.errors import CanopyError, NotFound, TooManyRequests, Unauthorized, ValidationFailed
from canopy.store.models import User
from services.gateway import accounts
from services.gateway.access import PUBLIC, allow, any_role, current_principal
from services.gateway.context import gateway_context
from services.gateway.portal import portal_blueprint
from services.gateway.portal.booking_forms import zone_names
from services.gateway.portal.forms import field_problems
from services.gateway.portal.pages import done, home_url, render
from services.gateway.portal.sessions import close_session, open_session
from services.gateway.user_settings import settings_view, update_settings

blueprint = portal_blueprint("account")
# The site root sits outside /portal, so its blueprint is not made by portal_blueprint.
root = Blueprint("portal_root", __name__)
SETTINGS_NOTICES = {"settings": "Your time zone and e-mail address were saved."}


@root.get("/")
@allow(PUBLIC)
def index() -> Response:
    """The site root leads to the portal."""
    return redirect(url_for("portal_account.home"))


@blueprint.get("/")
@allow(*any_role())
def home() -> Response:
    """Each role's first page."""
    return redirect(home_url(current_principal()))


@blueprint.get("/login")
@allow(PUBLIC)
def login() -> tuple[str, int]:
    """The sign-in form."""
    return render("login.html", next=_next_url(), user="", error="")


@blueprint.post("/login")
@allow(PUBLIC)
def sign_in() -> Response | tuple[str, int]:
    """Check the password (throttled like the API's login), open a session and go where asked."""
    name, password = request.form.get("user", ""), request.form.get("password", "")
    context = gateway_context()
    address = request.remote_addr or "unknown"
    wait = context.throttle.retry_after(name, address)
    if wait:
        error = TooManyRequests(f"too many failed sign-ins from {address}; retry in {wait:.0f} s")
        return render("login.html", status=error.status, next=_next_url(), user=name, error=error.message)
    ttl = timedelta(hours=context.backends.config.token_ttl_hours)
    with context.backends.store.session() as session:
        try:
            user = accounts.authenticate(session, name, password)
        except Unauthorized as refused:
            context.throttle.failed(name, address)
            return render("login.html", status=401, next=_next_url(), user=name, error=refused.message)
        issued = accounts.issue_token(session, user, ttl, label="portal")
    context.throttle.succeeded(name, address)
    response = redirect(_next_url() or url_for("portal_account.home"), code=303)
    open_session(response, issued.secret, ttl)
    return response


@blueprint.post("/logout")
@allow(*any_role())
def sign_out() -> Response:
    """Revoke the session's token and forget the cookie."""
    principal = current_principal()
    with gateway_context().backends.store.session() as session:
        accounts.revoke_token(session, principal.token_id, principal)
    response = done("portal_account.login", "signed-out")
    close_session(response)
    return response


def _account_page(
    status: int = 200, problems: dict[str, str] | None = None, **posted: str
) -> tuple[str, int]:
    """The account page: the settings (as stored, or as posted with their problems) and the password form."""
    with gateway_context().backends.store.session() as session:
        user = session.get(User, current_principal().user_id)
        if user is None:
            raise NotFound("your user no longer exists")
        settings = {**settings_view(user), **posted}
    shown, zones = problems or {}, zone_names()
    return render("account.html", status, SETTINGS_NOTICES, problems=shown, settings=settings, zones=zones)


@blueprint.get("/account")
@allow(*any_role())
def account() -> tuple[str, int]:
    """The user's own account: name, role, time zone and e-mail address, and the password form."""
    return _account_page()


@blueprint.post("/account/settings")
@allow(*any_role())
def change_settings() -> Response | tuple[str, int]:
    """Set one's time zone and e-mail address through the same function as PUT /api/v1/account."""
    posted = {"timezone": request.form.get("timezone", ""), "email": request.form.get("email", "").strip()}
    try:
        with gateway_context().backends.store.session() as session:
            update_settings(session, current_principal().user_id, posted)
    except ValidationFailed as refused:
        shown = {key: refused.message.removeprefix(f"{key}: ") for key in field_problems(refused, "email")}
        return _account_page(refused.status, shown, **posted)
    return done("portal_account.account", "settings")


@blueprint.post("/account/password")
@allow(*any_role())
def change_password() -> Response | tuple[str, int]:
    """Change one's own password; the other sessions and tokens of the user are revoked."""
    form = request.form
    if form.get("new", "") != form.get("repeat", ""):
        return _account_page(400, {"repeat": "the two new passwords differ"})
    try:
        with gateway_context().backends.store.session() as session:
            accounts.change_password(
                session, current_principal(), form.get("current", ""), form.get("new", "")
            )
    except CanopyError as refused:
        return _account_page(refused.status, field_problems(refused, "new"))
    return done("portal_account.account", "password")


def _next_url() -> str:
    """Where to go after sign-in: a local portal path only, never another site."""
    wanted = request.values.get("next", "")
    return wanted if wanted.startswith("/portal") and not wanted.startswith("//") else ""
