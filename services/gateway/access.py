"""Every route declares the roles it allows; requests are authenticated and checked before the view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from canopy.errors import Forbidden, Unauthorized
from canopy.roles import ALL_ROLES, Role
from services.gateway.accounts import Principal, resolve_token
from services.gateway.context import gateway_context
from services.gateway.portal import is_portal_request
from services.gateway.portal.sessions import authenticate_session, check_csrf, is_page_visit

PUBLIC = "public"
ROLES_ATTRIBUTE = "canopy_allowed_roles"
View = TypeVar("View", bound=Callable[..., Any])


def allow(*roles: Role | str) -> Callable[[View], View]:
    """Declare who may call a view: PUBLIC, or one or more roles."""
    declared = frozenset(roles)
    if not declared or (PUBLIC in declared and len(declared) > 1):
        raise ValueError("declare PUBLIC alone or at least one role")

    def mark(view: View) -> View:
        setattr(view, ROLES_ATTRIBUTE, declared)
        return view

    return mark


def any_role() -> tuple[Role, ...]:
    """Every role, for routes any signed-in user may call."""
    return tuple(sorted(ALL_ROLES))


def declared_roles(app: Flask, endpoint: str) -> frozenset[str] | None:
    """The roles a registered endpoint allows, or None when it declares nothing."""
    view = app.view_functions.get(endpoint)
    roles: frozenset[str] | None = getattr(view, ROLES_ATTRIBUTE, None)
    return roles


def undeclared_endpoints(app: Flask) -> list[str]:
    """Endpoints registered without an allow() declaration."""
    return sorted(
        rule.endpoint for rule in app.url_map.iter_rules() if declared_roles(app, rule.endpoint) is None
    )


def enforce_roles() -> None:
    """before_request hook: authenticate and check the caller's role against the route's declaration.

    API routes take a bearer token; portal pages take the session cookie and check every form's
    CSRF token first (the login form's too); app pages take either for GET (a browser opens them).
    """
    if request.endpoint is None:
        return
    roles = declared_roles(current_app, request.endpoint)
    if roles is None:
        raise Forbidden("this route declares no roles and is closed")
    portal = is_portal_request()
    if portal:
        check_csrf()
    if PUBLIC in roles:
        return
    if portal or is_page_visit():
        principal = authenticate_session()
    else:
        principal = _authenticate(request.headers.get("Authorization", ""))
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not use {request.method} {request.path}")
    g.principal = principal


def current_principal() -> Principal:
    """The authenticated caller of the current request."""
    principal: Principal = g.principal
    return principal


def bearer_principal(header: str) -> Principal:
    """The caller an `Authorization: Bearer` header names; Unauthorized when it names nobody."""
    return _authenticate(header)


def _authenticate(header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API token; send 'Authorization: Bearer <token>' (see `canopy login`)")
    with gateway_context().backends.store.session() as session:
        return resolve_token(session, token.strip())
