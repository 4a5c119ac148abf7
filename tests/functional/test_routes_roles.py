"""Walk every registered route with every role and with no token: only declared roles get through."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask.testing import FlaskClient

from canopy.roles import Role
from services.gateway.access import PUBLIC, declared_roles, undeclared_endpoints
from tests.functional.conftest import bearer

PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _routes(client: FlaskClient) -> list[tuple[str, str, str]]:
    app = client.application
    routes = []
    for rule in app.url_map.iter_rules():
        path = PLACEHOLDER.sub("no-such-thing", rule.rule)
        routes.extend(
            (method, path, rule.endpoint) for method in sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"})
        )
    return routes


def test_every_route_declares_its_roles(client: FlaskClient) -> None:
    assert undeclared_endpoints(client.application) == []
    assert len(_routes(client)) >= 9


def test_only_declared_roles_get_through(client: FlaskClient, issue_token: Callable[[Role], str]) -> None:
    app = client.application
    checked = 0
    for method, path, endpoint in _routes(client):
        roles = declared_roles(app, endpoint) or frozenset()
        anonymous = client.open(path, method=method, json={})
        if PUBLIC in roles:
            assert anonymous.status_code not in (401, 403), (method, path)
        else:
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        for role in Role:
            response = client.open(path, method=method, json={}, headers=bearer(issue_token(role)))
            if PUBLIC in roles or role.value in roles:
                assert response.status_code not in (401, 403), (method, path, role, response.get_json())
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
            checked += 1
    assert checked >= 40


def test_a_revoked_or_garbage_token_is_refused(client: FlaskClient, role_tokens: dict[Role, str]) -> None:
    token = role_tokens[Role.END_USER]
    assert client.get("/api/v1/auth/whoami", headers=bearer(token)).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/auth/whoami", headers=bearer(token)).status_code == 401
    for garbage in ("cnp_x_y", "nonsense", token[:-2] + "zz"):
        assert client.get("/api/v1/auth/whoami", headers=bearer(garbage)).status_code == 401
