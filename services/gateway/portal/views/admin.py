"""The platform administrator's users (create, change role, delete) and platform services' health."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from canopy.errors import CanopyError
from canopy.nodes.fleet import fleet_page
from canopy.placement import LOST_AFTER_SECONDS
from canopy.roles import ALL_ROLES, Role
from canopy.runtime.health import HEARTBEAT_PREFIX, blob_problem, process_health
from canopy.store.models import User, utcnow
from services.gateway import accounts
from services.gateway.access import allow, current_principal
from services.gateway.context import gateway_context
from services.gateway.portal import portal_blueprint
from services.gateway.portal.forms import field_problems
from services.gateway.portal.pages import PAGE_SIZE, done, page_offset, paginate_count, render

blueprint = portal_blueprint("admin")
ROLES = sorted(role.value for role in ALL_ROLES)
NOTICES = {
    "created": "The user was created; give them their initial password.",
    "deleted": "The user was deleted, and every token they held revoked.",
    "role": "The role was changed; it applies to the user's next request.",
}
CREATE_FIELDS = ("name", "role", "password")


def _users_page(status: int = 200, **form: Any) -> tuple[str, int]:
    """The users list (paged, filtered by name or role) with the forms, and any problems to show."""
    query = request.args.get("q", "").strip()
    statement = select(User)
    if query:
        pattern = f"%{query.lower()}%"
        statement = statement.where(or_(func.lower(User.name).like(pattern), User.role.like(pattern)))
    with gateway_context().backends.store.session() as session:
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        users = [
            {"name": u.name, "role": u.role, "disabled": u.disabled, "created_at": u.created_at}
            for u in session.scalars(
                statement.order_by(User.name).offset(page_offset(PAGE_SIZE)).limit(PAGE_SIZE)
            )
        ]
    context: dict[str, Any] = {"problems": {}, "row_problems": {}, "values": {}, **form}
    return render(
        "admin/users.html",
        status=status,
        notices=NOTICES,
        paged=paginate_count(users, int(total), PAGE_SIZE),
        query=query,
        roles=ROLES,
        me=current_principal().name,
        **context,
    )


def _by_field(refused: CanopyError, fields: tuple[str, ...], default: str) -> dict[str, str]:
    """The refusal's message next to the form field it names (or `default`)."""
    named = [name for name in field_problems(refused, default) if name in fields]
    return {name: refused.message for name in named or [default]}


@blueprint.get("/users")
@allow(Role.PLATFORM_ADMIN)
def list_users() -> tuple[str, int]:
    """Every user with their role, the create form, and per user a role form and a delete button."""
    return _users_page()


@blueprint.post("/users")
@allow(Role.PLATFORM_ADMIN)
def create_user() -> Response | tuple[str, int]:
    """Add a user as POST /api/v1/users does; problems are shown next to the fields."""
    form = request.form
    values = {"name": form.get("name", "").strip(), "role": form.get("role", "")}
    try:
        role = accounts.user_role(values["role"])
        with gateway_context().backends.store.session() as session:
            accounts.create_user(session, values["name"], role, form.get("password", ""))
    except CanopyError as refused:
        problems = _by_field(refused, CREATE_FIELDS, "name")
        return _users_page(refused.status, problems=problems, values=values)
    return done("portal_admin.list_users", "created", q=values["name"])


@blueprint.post("/users/<name>/role")
@allow(Role.PLATFORM_ADMIN)
def change_role(name: str) -> Response | tuple[str, int]:
    """Change a user's role as PUT /api/v1/users/<name> does (never the last platform_admin's)."""
    try:
        role = accounts.user_role(request.form.get("role", ""))
        with gateway_context().backends.store.session() as session:
            accounts.set_role(session, name, role)
    except CanopyError as refused:
        return _users_page(refused.status, row_problems={name: refused.message})
    return done("portal_admin.list_users", "role", **_kept_filter())


@blueprint.post("/users/<name>/delete")
@allow(Role.PLATFORM_ADMIN)
def delete_user(name: str) -> Response | tuple[str, int]:
    """Delete a user as DELETE /api/v1/users/<name> does (never oneself nor the last platform_admin)."""
    try:
        with gateway_context().backends.store.session() as session:
            accounts.delete_user(session, name, current_principal())
    except CanopyError as refused:
        return _users_page(refused.status, row_problems={name: refused.message})
    return done("portal_admin.list_users", "deleted", **_kept_filter())


def _kept_filter() -> dict[str, str]:
    """The list's filter and page the form was posted from, to return to them."""
    return {key: value for key, value in request.args.items() if key in ("q", "page") and value}


@blueprint.get("/services")
@allow(Role.PLATFORM_ADMIN)
def services() -> tuple[str, int]:
    """Its own process's services and backends, the other services by their heartbeats, the node agents."""
    context = gateway_context()
    backends = context.backends
    report = process_health(backends.store, {**backends.checks, "blob": lambda: blob_problem(backends.blob)})
    components: dict[str, str] = report["components"]  # type: ignore[assignment]
    in_process = sorted(
        (name.removeprefix(HEARTBEAT_PREFIX), state)
        for name, state in components.items()
        if name.startswith(HEARTBEAT_PREFIX)
    )
    running_here = {name for name, _ in in_process}
    elsewhere = [beat for beat in context.feed.heard().services() if beat.service not in running_here]
    with backends.store.session() as session:
        nodes, total = fleet_page(session, utcnow(), "", page_offset(PAGE_SIZE), PAGE_SIZE)
    return render(
        "admin/services.html",
        report=report,
        components=sorted(components.items()),
        in_process=in_process,
        elsewhere=elsewhere,
        misses=backends.config.heal_service_timeout,
        paged=paginate_count(nodes, total, PAGE_SIZE),
        lost_after=int(LOST_AFTER_SECONDS),
    )
