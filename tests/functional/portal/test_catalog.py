"""The end user's portal pages: the catalogue, where each app runs, running one, their instances, its page."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from canopy.apps.records import AppInstance
from canopy.deployments.tables import Replica
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.app_world import add_app
from tests.fixtures.app_packages.corpus import good_canopy_package
from tests.functional.portal.app_world import OFFICE, ROOM, seed, text, uploaded
from tests.functional.portal.conftest import PORTAL_PASSWORD, user_name
from tests.portal_forms import PortalBrowser

SignIn = Callable[[Role], PortalBrowser]


@pytest.fixture()
def app_id(backends: Backends, signed_in: SignIn) -> str:
    """Types, models and devices, and room-climate uploaded by the app developer through the portal."""
    seed(backends)
    return uploaded(signed_in(Role.APP_DEVELOPER), good_canopy_package())


def _page(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A stand-in for an app's page: says hello and shows which cookie reached it."""
    start_response("200 OK", [("Content-Type", "text/html")])
    return [f"<h1>room-climate</h1><p>cookie={environ.get('HTTP_COOKIE')}</p>".encode()]


@pytest.fixture()
def app_page() -> Iterator[str]:
    """A running stand-in for an instance's page: its endpoint."""
    server = make_server("127.0.0.1", 0, _page, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_catalogue_shows_each_app_with_the_locations_it_can_run_at(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    add_app(backends, user_name(Role.APP_DEVELOPER), manifest_needing("BUZZER"))
    user = signed_in(Role.END_USER)
    page = text(user.get("/portal/catalog").get_data(as_text=True))
    card = page[page.index(f'id="app-{app_id}"') :]
    assert "Keeps a room cool" in card and "Needs: TEMP, FAN" in card
    assert f'<option value="{ROOM}">' in card and OFFICE not in card
    assert "No location has a free device for every role it declares." in page  # the BUZZER app
    assert page.count('action="/portal/catalog/') == 1


def test_an_end_user_runs_an_app_sees_it_stops_and_removes_it(
    signed_in: SignIn, app_id: str, backends: Backends
) -> None:
    user = signed_in(Role.END_USER)
    user.get("/portal/catalog")
    refused = user.post(f"/portal/catalog/{app_id}/run", {"location": OFFICE})
    page = text(refused.get_data(as_text=True))
    assert refused.status_code == 422 and f"no FAN at {OFFICE}" in page[page.index('id="location-error"') :]
    ran = user.post(f"/portal/catalog/{app_id}/run", {"location": ROOM})
    assert ran.status_code == 303 and ran.headers["Location"].endswith("/portal/my-apps?done=started")
    with backends.store.session() as session:
        instance = session.scalars(select(AppInstance)).one()
        assert instance.owner is not None and instance.owner.name == user_name(Role.END_USER)
    mine = text(user.get("/portal/my-apps?done=started").get_data(as_text=True))
    assert "asked to start" in mine and ROOM in mine and 'data-state="requested"' in mine
    assert 'class="open"' not in mine
    # Its fan is held now: the catalogue says where it is in use and offers no location.
    catalogue = text(user.get("/portal/catalog").get_data(as_text=True))
    assert f"<code>{ROOM}</code>: no free FAN" in catalogue and f'<option value="{ROOM}">' not in catalogue
    assert user.post(f"/portal/my-apps/{instance.id}/delete").status_code == 409
    base = f'action="/portal/my-apps/{instance.id}'
    assert f'{base}/stop"' in mine and f'{base}/start"' not in mine and f'{base}/delete"' not in mine
    assert user.post(f"/portal/my-apps/{instance.id}/stop").status_code == 303
    stopped = user.get("/portal/my-apps").get_data(as_text=True)
    assert f'{base}/start"' in stopped and f'{base}/delete"' in stopped and f'{base}/stop"' not in stopped
    assert user.post(f"/portal/my-apps/{instance.id}/delete").status_code == 303
    assert "You run no apps" in user.get("/portal/my-apps").get_data(as_text=True)


def test_the_open_link_reaches_the_running_page_sandboxed_for_its_user_only(
    signed_in: SignIn, app_id: str, backends: Backends, app_page: str
) -> None:
    user = signed_in(Role.END_USER)
    user.get("/portal/catalog")
    assert user.post(f"/portal/catalog/{app_id}/run", {"location": ROOM}).status_code == 303
    with backends.store.session() as session:
        instance_id = session.scalars(select(AppInstance.id)).one()
        session.add(
            Replica(
                workload_id="w1",
                model_id=instance_id,
                generation=1,
                node_id="n1",
                endpoint=app_page,
                state="ready",
            )
        )
    mine = user.get("/portal/my-apps").get_data(as_text=True)
    assert f'class="open" href="/apps/{instance_id}/"' in mine and 'data-state="running"' not in mine
    opened = user.client.get(f"/apps/{instance_id}/")
    assert opened.status_code == 200, opened.get_data(as_text=True)
    assert "<h1>room-climate</h1>" in opened.get_data(as_text=True)
    assert "cookie=None" in opened.get_data(as_text=True)  # the session never reaches the app
    policies = opened.headers.getlist("Content-Security-Policy")
    assert any(policy.startswith("sandbox allow-scripts") for policy in policies), policies
    # Only GET rides on the session; other methods need a bearer token (no cross-site writes).
    assert user.client.post(f"/apps/{instance_id}/").status_code == 401
    # Another end user, and the app's developer, may not open it (REST's rule: its user or an admin).
    with backends.store.session() as session:
        accounts.create_user(session, "mallory", Role.END_USER, PORTAL_PASSWORD)
    mallory = PortalBrowser(user.client.application.test_client())
    mallory.sign_in("mallory", PORTAL_PASSWORD)
    assert mallory.client.get(f"/apps/{instance_id}/").status_code == 403
    assert instance_id not in mallory.get("/portal/my-apps").get_data(as_text=True)
    for action in ("stop", "start", "delete"):
        assert mallory.post(f"/portal/my-apps/{instance_id}/{action}").status_code == 403
    assert signed_in(Role.APP_DEVELOPER).client.get(f"/apps/{instance_id}/").status_code == 403
    assert signed_in(Role.PLATFORM_ADMIN).client.get(f"/apps/{instance_id}/").status_code == 200


def test_the_catalogue_and_my_apps_page_and_filter(signed_in: SignIn, backends: Backends) -> None:
    seed(backends)
    for number in range(51):
        add_app(backends, user_name(Role.APP_DEVELOPER), {"name": f"app-{number:02}", "entry": "a:main"})
    user = signed_in(Role.END_USER)
    first = user.get("/portal/catalog").get_data(as_text=True)
    assert "51 in all · page 1 of 2" in first and first.count('class="app-card"') == 50
    assert first.count("It needs no devices: it runs at any location.") == 50
    second = user.get("/portal/catalog?page=2").get_data(as_text=True)
    assert second.count('class="app-card"') == 1 and ">app-50<" in second
    assert "1 in all" in user.get("/portal/catalog?q=app-07").get_data(as_text=True)
    listed = user.get("/portal/catalog?q=app-0").get_data(as_text=True)
    for number in range(3):
        app_id = listed.split(f">app-0{number}<")[0].rsplit("/portal/catalog/", 1)[1].split('"')[0]
        assert (
            user.post(f"/portal/catalog/{app_id}/run", {"location": f"city/site-{number}"}).status_code == 303
        )
    assert "3 in all" in user.get("/portal/my-apps").get_data(as_text=True)
    filtered = user.get("/portal/my-apps?q=site-1").get_data(as_text=True)
    assert "1 in all" in filtered and "city/site-1" in filtered and "city/site-2" not in filtered


@pytest.mark.parametrize("role", [Role.APP_DEVELOPER, Role.AI_DEVELOPER, Role.PLATFORM_ADMIN])
def test_other_roles_are_refused(signed_in: SignIn, role: Role) -> None:
    browser = signed_in(role)
    for path in ("/portal/catalog", "/portal/my-apps", "/portal/catalog/a00000000000000"):
        assert browser.get(path).status_code == 403, path
    assert browser.post("/portal/catalog/a00000000000000/run", {"location": ROOM}).status_code == 403


def manifest_needing(type_name: str) -> dict[str, object]:
    """An app that needs one device of a type."""
    return {"name": "alarm", "entry": "a:main", "devices": [{"name": "it", "type": type_name}]}
