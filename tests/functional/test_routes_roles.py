"""Walk every route with every role, with no token, and on own and foreign objects: route x role x owner.

Each endpoint is classified here (a new route fails the test until it is): `role` routes let every
declared role through; `owner` routes only the model's owner and platform_admin (403 for anyone else);
`device` routes only callers that services.gateway.ownership.may_use_device lets use the device;
instance routes only the instance's user, its app's developer and platform_admin, and its page only
the first and the last;
device-credential routes refuse every user token. The `workload` caller holds the credential of an
app instance of eve's bound to fan-1 and declaring deva's model, so it gets through exactly on the
routes that declare `workload`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from canopy import devices
from canopy.apps.credentials import issue_instance_token
from canopy.roles import ALL_ROLES, Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from services.gateway.access import PUBLIC, declared_roles, undeclared_endpoints
from tests.app_world import add_app
from tests.fixtures.device_packages.corpus import sample
from tests.fixtures.model_packages.corpus import good_modern_package
from tests.functional.conftest import bearer

PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
OWNER_ROUTES = {
    "deployments.deploy_model",
    "deployments.undeploy_model",
    "deployments.scale_model",
    "deployments.show_deployment",
    "models.delete_model",
}
DEVICE_ROUTES = {
    "devices.show_device",
    "telemetry.get_latest",
    "telemetry.stream",
    "commands.send_command",
    "commands.get_command",
}
# An app instance's routes: its user (eve), its app's developer (appdev) and platform_admin.
INSTANCE_ROUTES = {
    "instances.show_instance",
    "instance_runs.start_instance",
    "instance_runs.stop_instance",
    "instance_runs.instance_deployment",
}
INSTANCE_VIEWERS = {"end_user", "app_developer", "platform_admin"}
# An app instance's page: only the user it runs for and platform_admin.
PAGE_ROUTES = {"app_proxy.page_root", "app_proxy.page"}
PAGE_VIEWERS = {"end_user", "platform_admin"}
# A booking's routes: its user (eve) and platform_admin.
BOOKING_ROUTES = {"bookings.show", "bookings.cancel", "bookings.delete"}
BOOKING_VIEWERS = {"end_user", "platform_admin"}
# Public to users, but the view demands the device's own credential, which no user token is.
DEVICE_CREDENTIAL_ROUTES = {"telemetry.post_telemetry"}
# Public to Prometheus's scrape token (CANOPY_PROMETHEUS_TOKEN, unset here); of users, only platform_admin.
SCRAPE_ROUTES = {"metrics_targets.metrics_targets"}
# Callers: a name, the role of the user, and the user name (None: no token; WORKLOAD: the instance's).
WORKLOAD = "@workload"
CALLERS = [
    ("anonymous", None, None),
    ("end_user", Role.END_USER, "eve"),
    ("app_developer", Role.APP_DEVELOPER, "appdev"),
    ("other_developer", Role.AI_DEVELOPER, "devb"),
    ("owner", Role.AI_DEVELOPER, "deva"),
    ("platform_admin", Role.PLATFORM_ADMIN, "admin"),
    ("workload", Role.WORKLOAD, WORKLOAD),
]
MANAGERS = {"owner", "platform_admin"}
DEVICE_USERS = {"platform_admin", "workload"}
# Deleting the instance would end the workload's credential mid-walk; its owner rule is tested in
# tests/functional/test_app_instances.py, so the walk deletes a non-existent one.
KEEP = {"instances.remove_instance"}


@pytest.fixture()
def world(client: FlaskClient, backends: Backends) -> dict[str, str]:
    """The model of deva, a registered controller, an app of appdev's with an instance of eve's."""
    with backends.store.session() as session:
        for _, role, name in CALLERS:
            if role is not None and name not in ("admin", WORKLOAD):
                accounts.create_user(session, name, role, "password-123")
        devices.register_type(session, devices.parse_type(sample("types/fan.json")))
        fan_type = devices.parse_type(sample("types/fan.json")).name
        spec = devices.parse_device({"id": "fan-1", "type": fan_type, "location": "hyd/lab"})
        devices.create_device(session, spec)
    uploaded = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(good_modern_package()), "model.zip")},
        headers=bearer(token_for(backends, "deva")),
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.get_json()
    model_id = uploaded.get_json()["id"]
    fan = {"name": "fan", "type": fan_type, "kind": "controller", "exclusive": True}
    app_id = add_app(
        backends,
        "appdev",
        {
            "name": "fan-app",
            "entry": "app:main",
            "devices": [fan],
            "models": [{"name": "m", "ref": model_id}],
        },
    )
    created = client.post(
        f"/api/v1/apps/{app_id}/instances",
        json={"location": "hyd"},
        headers=bearer(token_for(backends, "eve")),
    )
    assert created.status_code == 201, created.get_json()
    instance_id = created.get_json()["id"]
    with backends.store.session() as session:
        workload = issue_instance_token(session, instance_id)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    booked = client.post(
        "/api/v1/bookings",
        json={
            "app": app_id,
            "location": "hyd",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        },
        headers=bearer(token_for(backends, "eve")),
    )
    assert booked.status_code == 201, booked.get_json()
    return {
        "booking_id": booked.get_json()["id"],
        "model_id": model_id,
        "device_id": "fan-1",
        "app_id": app_id,
        "instance_id": instance_id,
        WORKLOAD: workload,
    }


def token_for(backends: Backends, name: str, world: dict[str, str] | None = None) -> str:
    """A fresh token of user `name` (the instance credential for WORKLOAD)."""
    if name == WORKLOAD:
        assert world is not None
        return world[WORKLOAD]
    with backends.store.session() as session:
        return accounts.issue_token(session, accounts.find_user(session, name), timedelta(hours=1)).secret


def api_rules(app: Flask) -> list[Rule]:
    """The routes called with bearer tokens: all but the portal's pages (`portal_*` endpoints).

    The pages take the session cookie instead; tests/functional/portal/test_portal_routes_roles.py
    walks them.
    """
    return [rule for rule in app.url_map.iter_rules() if not rule.endpoint.startswith("portal_")]


def _routes(client: FlaskClient, world: dict[str, str]) -> list[tuple[str, str, str]]:
    """Every (method, concrete path, endpoint), deletions last so they do not remove objects early."""
    values = {**world, "path": "hyd", "name": "no-such-thing"}
    routes = []
    for rule in api_rules(client.application):
        path = PLACEHOLDER.sub(lambda m: values.get(m.group(1), "no-such-thing"), rule.rule)
        if rule.endpoint == "telemetry.stream":
            path += "?timeout=0.1"
        if rule.endpoint in KEEP:
            path = PLACEHOLDER.sub("no-such-thing", rule.rule)
        routes.extend(
            (method, path, rule.endpoint) for method in sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"})
        )
    return sorted(routes, key=lambda route: route[0] == "DELETE")


def expected(caller: str, role: Role | None, roles: frozenset[str], endpoint: str) -> str:
    """'401', '403' or 'through' (any other status) for a caller on a route."""
    if endpoint in DEVICE_CREDENTIAL_ROUTES:
        return "401"
    if endpoint in SCRAPE_ROUTES:
        return "through" if role == Role.PLATFORM_ADMIN else "401" if role is None else "403"
    if PUBLIC in roles:
        return "through"
    if role is None:
        return "401"
    if role.value not in roles:
        return "403"
    if endpoint in OWNER_ROUTES and caller not in MANAGERS:
        return "403"
    if endpoint in DEVICE_ROUTES and caller not in DEVICE_USERS:
        return "403"
    if endpoint in INSTANCE_ROUTES and caller not in INSTANCE_VIEWERS:
        return "403"
    if endpoint in PAGE_ROUTES and caller not in PAGE_VIEWERS:
        return "403"
    if endpoint in BOOKING_ROUTES and caller not in BOOKING_VIEWERS:
        return "403"
    return "through"


def test_every_route_declares_its_roles(client: FlaskClient) -> None:
    assert undeclared_endpoints(client.application) == []
    endpoints = {rule.endpoint for rule in api_rules(client.application)}
    assert endpoints >= OWNER_ROUTES | DEVICE_ROUTES | INSTANCE_ROUTES | PAGE_ROUTES | BOOKING_ROUTES
    pages = {rule.rule for rule in client.application.url_map.iter_rules()} - {
        rule.rule for rule in api_rules(client.application)
    }
    assert pages and all(page == "/" or page.startswith("/portal/") for page in pages)


def test_route_role_owner_matrix(client: FlaskClient, backends: Backends, world: dict[str, str]) -> None:
    app = client.application
    checked: dict[str, int] = {"401": 0, "403": 0, "through": 0}
    for method, path, endpoint in _routes(client, world):
        roles = declared_roles(app, endpoint) or frozenset()
        for caller, role, name in CALLERS:
            headers = bearer(token_for(backends, name, world)) if name else {}
            response = client.open(path, method=method, json={}, headers=headers)
            status = response.status_code
            response.close()
            want = expected(caller, role, roles, endpoint)
            got = str(status) if status in (401, 403) else "through"
            assert got == want, (method, path, caller, status, response.get_json(silent=True))
            checked[want] += 1
    assert checked["403"] >= 60 and checked["through"] >= 60 and checked["401"] >= 30


def test_lists_show_only_what_the_caller_may_manage(
    client: FlaskClient, backends: Backends, world: dict[str, str]
) -> None:
    model_id = world["model_id"]
    deva, devb = (bearer(token_for(backends, name)) for name in ("deva", "devb"))
    admin, eve = (bearer(token_for(backends, name)) for name in ("admin", "eve"))
    assert client.post(f"/api/v1/models/{model_id}/deploy", json={}, headers=deva).status_code == 202

    def deployed(headers: dict[str, str]) -> list[str]:
        reply = client.get("/api/v1/deployments", headers=headers).get_json()
        return [deployment["model_id"] for deployment in reply["deployments"]]

    assert deployed(deva) == deployed(admin) == [model_id]
    assert deployed(devb) == []
    assert [d["id"] for d in client.get("/api/v1/devices", headers=admin).get_json()["devices"]] == ["fan-1"]
    assert client.get("/api/v1/devices", headers=eve).get_json()["devices"] == []
    assert client.get("/api/v1/locations/hyd/devices", headers=eve).get_json()["devices"] == []


def test_a_revoked_or_garbage_token_is_refused(client: FlaskClient, role_tokens: dict[Role, str]) -> None:
    token = role_tokens[Role.END_USER]
    assert client.get("/api/v1/auth/whoami", headers=bearer(token)).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/auth/whoami", headers=bearer(token)).status_code == 401
    for garbage in ("cnp_x_y", "nonsense", token[:-2] + "zz"):
        assert client.get("/api/v1/auth/whoami", headers=bearer(garbage)).status_code == 401


def test_the_old_role_only_walk_still_holds(client: FlaskClient, issue_token: Callable[[Role], str]) -> None:
    """With no objects at all, undeclared roles get 403 and missing tokens 401 on every route."""
    app = client.application
    for rule in api_rules(app):
        path = PLACEHOLDER.sub("no-such-thing", rule.rule)
        roles = declared_roles(app, rule.endpoint) or frozenset()
        for method in sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"}):
            if PUBLIC in roles:
                continue
            assert client.open(path, method=method, json={}).status_code == 401, (method, path)
            for role in ALL_ROLES:
                if role.value not in roles:
                    response = client.open(path, method=method, json={}, headers=bearer(issue_token(role)))
                    assert response.status_code == 403, (method, path, role)
