"""Walk every portal route with every role through the session cookie: route x role x CSRF.

Generic: every registered endpoint named `portal_*` is walked, so a new page is checked the day it
is added. For each route and method:
- signed out, a GET of a page that is not public goes to the login form (302 /portal/login?next=...);
- signed out, a POST is refused: 403 without the form's token, 401 with a visitor's token;
- signed in with a role the route does not declare: 403 from the role gate, GET and POST alike;
- signed in with a declared role: a GET passes the gate (any answer but a refusal, a sign-in
  redirect or a server error), and a POST without the CSRF token is still refused 403.
A route that declares no roles is a finding. POSTs never get through, so the walk changes nothing.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, IntegerConverter, Rule, UUIDConverter
from werkzeug.test import TestResponse

from canopy.roles import ALL_ROLES, Role
from canopy.runtime.backends import Backends
from services.gateway.access import PUBLIC, allow, declared_roles
from services.gateway.app import create_app
from services.gateway.portal import portal_blueprint
from tests.functional.portal.conftest import PORTAL_PASSWORD
from tests.portal_forms import PortalBrowser

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# What each refusal says on its error page (services.gateway.access and portal.sessions).
ROLE_REFUSAL = "may not use"
CSRF_REFUSAL = "security token"


@dataclass(frozen=True)
class Route:
    """One method of one portal route, with a concrete path and the roles it declares."""

    method: str
    path: str
    endpoint: str
    roles: frozenset[str] | None

    @property
    def public(self) -> bool:
        """Whether anyone, signed in or not, may use it."""
        return self.roles is not None and PUBLIC in self.roles

    def allows(self, role: Role) -> bool:
        """Whether a user of `role` passes the route's role gate."""
        return self.roles is not None and (self.public or role.value in self.roles)


def concrete_paths(app: Flask, rule: Rule) -> list[str]:
    """The rule's paths with values of the right type, naming no existing object, for its arguments.

    An `any(...)` argument takes each of its words, so every variant of the route is walked.
    """
    choices: dict[str, list[object]] = {}
    for name, converter in rule._converters.items():
        if isinstance(converter, AnyConverter):
            choices[name] = sorted(converter.items)
        elif isinstance(converter, IntegerConverter):
            choices[name] = [987654321]
        elif isinstance(converter, UUIDConverter):
            choices[name] = [uuid.UUID(int=1)]
        else:
            choices[name] = ["no-such-thing"]
    adapter = app.url_map.bind("localhost")
    return [
        str(adapter.build(rule.endpoint, dict(zip(choices, values, strict=True)), append_unknown=False))
        for values in itertools.product(*choices.values())
    ]


def portal_routes(app: Flask) -> list[Route]:
    """Every method of every `portal_*` endpoint."""
    return [
        Route(method, path, rule.endpoint, declared_roles(app, rule.endpoint))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("portal_")
        for path in concrete_paths(app, rule)
        for method in sorted(set(rule.methods or ()) - SKIPPED_METHODS)
    ]


def send(client: FlaskClient, route: Route, token: str | None = None) -> TestResponse:
    """Call the route as a browser would (a form with `token`, when given, on non-GET methods)."""
    data = {} if token is None else {"csrf_token": token}
    if route.method == "GET":
        return client.get(route.path)
    return client.open(route.path, method=route.method, data=data)


def says(response: TestResponse, status: int, text: str) -> bool:
    """Whether the answer has `status` and its page says `text`."""
    return response.status_code == status and text in response.get_data(as_text=True)


def to_login(response: TestResponse) -> bool:
    """Whether the answer sends the browser to the sign-in form."""
    return response.status_code in (302, 303) and "/portal/login" in response.headers.get("Location", "")


def gets_through(response: TestResponse) -> bool:
    """Whether a signed-in GET passed the gate: no refusal, no sign-in redirect, no server error."""
    refused = says(response, 403, ROLE_REFUSAL) or response.status_code == 401 or to_login(response)
    return not refused and response.status_code < 500


def walk(app: Flask, users: dict[Role, PortalBrowser]) -> tuple[list[str], int]:
    """Findings (empty when every route holds) and the number of requests made."""
    anonymous, visitor = app.test_client(), PortalBrowser(app.test_client())
    visitor.get("/portal/login")
    findings: list[str] = []
    requests = 0

    def expect(route: Route, who: str, response: TestResponse, ok: bool, wanted: str) -> None:
        nonlocal requests
        requests += 1
        if not ok:
            findings.append(
                f"{route.method} {route.path} ({route.endpoint}) as {who}: {wanted}, got "
                f"{response.status_code} {response.headers.get('Location', '')}"
            )

    for route in portal_routes(app):
        if route.roles is None:
            findings.append(f"{route.endpoint} declares no roles (add @allow(...))")
        if route.method == "GET":
            answer = send(anonymous, route)
            wanted = "no refusal" if route.public else "302 to /portal/login"
            ok = gets_through(answer) if route.public else to_login(answer)
            expect(route, "signed out", answer, ok, wanted)
        else:
            answer = send(anonymous, route)
            expect(route, "signed out, no token", answer, says(answer, 403, CSRF_REFUSAL), "403 (CSRF)")
            if not route.public:
                answer = send(visitor.client, route, visitor.token)
                expect(route, "signed out", answer, answer.status_code == 401, "401")
        for role, browser in users.items():
            if route.allows(role):
                if route.method == "GET":
                    answer = send(browser.client, route)
                    expect(route, role.value, answer, gets_through(answer), "through the role gate")
                else:
                    answer = send(browser.client, route)
                    expect(route, f"{role.value}, no token", answer, says(answer, 403, CSRF_REFUSAL), "403")
            else:
                answer = send(browser.client, route, browser.token)
                expect(route, role.value, answer, says(answer, 403, ROLE_REFUSAL), "403 (role)")
    return findings, requests


def test_every_portal_route_holds_for_every_role(
    client: FlaskClient, signed_in: Callable[[Role], PortalBrowser]
) -> None:
    app = client.application
    routes = portal_routes(app)
    endpoints = {route.endpoint for route in routes}
    assert {"portal_account.account", "portal_account.change_password", "portal_static.asset"} <= endpoints
    users = {role: signed_in(role) for role in sorted(ALL_ROLES)}
    findings, requests = walk(app, users)
    assert findings == []
    assert requests >= len(routes) * (len(ALL_ROLES) + 1)
    for browser in users.values():
        assert browser.get("/portal/account").status_code == 200, "the walk must not sign anyone out"


def test_the_walk_fails_for_a_portal_route_that_declares_no_roles(
    backends: Backends, portal_users: dict[Role, str]
) -> None:
    """A page added without @allow is a finding (and closed to all); declared probes pass the walk."""
    app = create_app(backends)
    probe = portal_blueprint("probe", "/probe")

    @probe.get("/undeclared")
    def undeclared() -> str:
        return "no declaration"

    @probe.get("/open")
    @allow(PUBLIC)
    def open_page() -> str:
        return "open"

    @probe.post("/open")
    @allow(Role.PLATFORM_ADMIN)
    def admin_form() -> str:
        return "admin only"

    app.register_blueprint(probe)
    try:
        users = {}
        for role in (Role.PLATFORM_ADMIN, Role.END_USER):
            users[role] = PortalBrowser(app.test_client())
            users[role].sign_in(portal_users[role], PORTAL_PASSWORD)
        findings, _ = walk(app, users)
    finally:
        app.extensions["canopy"].close()
    probes = [finding for finding in findings if "portal_probe" in finding]
    assert any("portal_probe.undeclared declares no roles" in finding for finding in probes)
    assert any("/portal/probe/undeclared" in finding and "signed out" in finding for finding in probes)
    assert not any("/portal/probe/open" in finding for finding in probes), probes
    assert [finding for finding in findings if "portal_probe" not in finding] == []
