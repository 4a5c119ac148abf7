"""The app developer's portal pages: upload (both formats, refusals), an app's page, running it, instances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from canopy.apps import repository
from canopy.apps.records import AppInstance, AppRecord
from canopy.contracts.system import LogRecord
from canopy.deployments.tables import Deployment
from canopy.logs.store import log_row, store_batch
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway.views.apps import WORKSPACES_DIR
from tests.app_world import add_app
from tests.fixtures.app_packages.corpus import bad_apps, good_canopy_package, good_legacy_package
from tests.fixtures.model_packages.corpus import TEST_LIMITS
from tests.functional.portal.app_world import INSTANCE_ID, OFFICE, ROOM, seed, text, upload, uploaded
from tests.functional.portal.conftest import user_name
from tests.portal_forms import PortalBrowser

SignIn = Callable[[Role], PortalBrowser]


@pytest.fixture(autouse=True)
def world(backends: Backends, portal_users: dict[Role, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Small archive limits (for the size refusals), types, models and devices."""
    monkeypatch.setattr(repository, "UPLOAD_LIMITS", TEST_LIMITS)
    seed(backends)


def stored(backends: Backends) -> tuple[int, list[str], list[str]]:
    """Rows in the apps table, app blobs, and files left in the upload workspaces."""
    with backends.store.session() as session:
        rows = session.scalar(select(func.count()).select_from(AppRecord)) or 0
    workspaces = backends.config.home / WORKSPACES_DIR
    leftovers = [str(path) for path in workspaces.rglob("*")] if workspaces.exists() else []
    return rows, [info.key for info in backends.blob.list("apps/")], leftovers


def test_uploads_of_both_formats_lead_to_the_apps_page(signed_in: SignIn) -> None:
    dev = signed_in(Role.APP_DEVELOPER)
    form = dev.get("/portal/apps/upload").get_data(as_text=True)
    assert "data-progress" in form and 'name="file"' in form and "data-dropzone" in form
    app_id = uploaded(dev, good_canopy_package())
    page = text(dev.get(f"/portal/apps/{app_id}?done=uploaded").get_data(as_text=True))
    assert "The app was uploaded." in page and "room-climate" in page
    assert "<td>room_temp</td><td>TEMP</td><td>sensor</td><td>no</td>" in page
    assert "<td>fan</td><td>FAN</td><td>controller</td><td>yes</td>" in page
    assert "port 8080" in page and "requests==2.32.3" in page and "fan-health" in page
    assert f"Runs at: <code>{ROOM}</code>" in page and OFFICE not in page
    legacy_id = uploaded(dev, good_legacy_package())
    legacy = text(dev.get(f"/portal/apps/{legacy_id}").get_data(as_text=True))
    assert "original platform (legacy)" in legacy and "DISPLAY" in legacy
    listed = dev.get("/portal/apps").get_data(as_text=True)
    assert listed.count("/portal/apps/a") == 2


def test_a_refused_upload_shows_its_problems_next_to_the_field_and_stores_nothing(
    signed_in: SignIn, backends: Backends
) -> None:
    dev = signed_in(Role.APP_DEVELOPER)
    for bad in bad_apps():
        status, page = upload(dev, bad.data)
        assert status == bad.status, (bad.name, page[:500])
        error = page[page.index('id="file-error"') :]
        assert bad.where in error and bad.reason in error, (bad.name, error[:500])
        assert stored(backends) == (0, [], []), bad.name
    status, page = upload(dev, b"")
    assert status == 400 and 'id="file-error"' in page
    reply = dev.post("/portal/apps/upload", {}, content_type="multipart/form-data")
    assert reply.status_code == 400 and "choose an app package zip" in reply.get_data(as_text=True)
    assert stored(backends) == (0, [], [])


def test_running_an_app_at_a_location_creates_and_starts_an_instance(
    signed_in: SignIn, backends: Backends
) -> None:
    dev = signed_in(Role.APP_DEVELOPER)
    app_id = uploaded(dev, good_canopy_package())
    dev.get(f"/portal/apps/{app_id}")
    refused = dev.post(f"/portal/apps/{app_id}/run", {"location": OFFICE})
    page = text(refused.get_data(as_text=True))
    assert refused.status_code == 422, page
    error = page[page.index('id="location-error"') :]
    assert f"no FAN at {OFFICE} for role 'fan'" in error and f'value="{OFFICE}"' in page
    ran = dev.post(f"/portal/apps/{app_id}/run", {"location": ROOM})
    assert ran.status_code == 303, ran.get_data(as_text=True)
    found = INSTANCE_ID.search(ran.headers["Location"])
    assert found
    instance_id = found.group(1)
    with backends.store.session() as session:
        instance = session.get(AppInstance, instance_id)
        deployment = session.get(Deployment, instance_id)
        assert instance is not None and instance.location == ROOM
        assert deployment is not None and deployment.desired_replicas == 1
    said = LogRecord(at=datetime.now(UTC), level="INFO", source="app", instance_id=instance_id, message="hi")
    store_batch(backends.store, [log_row(said)])
    page = text(dev.get(ran.headers["Location"]).get_data(as_text=True))
    assert "The instance was created and asked to start" in page
    assert "INFO hi\n" in page[page.index('id="recent-logs"') :]
    assert "<td>fan</td><td>fan-1</td><td>FAN</td>" in page and 'data-refresh="2"' in page
    assert 'data-state="requested"' in page and "page-link" not in page
    # The exclusive fan is held now: a second run there explains who holds it.
    dev.get(f"/portal/apps/{app_id}")
    held = dev.post(f"/portal/apps/{app_id}/run", {"location": ROOM})
    assert held.status_code == 409 and f"held exclusively by instance {instance_id}" in text(
        held.get_data(as_text=True)
    )
    dev.get(f"/portal/instances/{instance_id}")
    refused_delete = dev.post(f"/portal/instances/{instance_id}/delete")
    assert refused_delete.status_code == 409 and "stop it first" in refused_delete.get_data(as_text=True)
    assert dev.post(f"/portal/instances/{instance_id}/stop").status_code == 303
    with backends.store.session() as session:
        deployment = session.get(Deployment, instance_id)
        assert deployment is not None and deployment.desired_replicas == 0


def test_instances_of_others_are_refused_and_lists_page_and_filter(
    signed_in: SignIn, backends: Backends
) -> None:
    dev = signed_in(Role.APP_DEVELOPER)
    app_id = uploaded(dev, good_canopy_package())
    user = signed_in(Role.END_USER)
    user.get("/portal/catalog")
    assert user.post(f"/portal/catalog/{app_id}/run", {"location": ROOM}).status_code == 303
    with backends.store.session() as session:
        users_instance = session.scalars(select(AppInstance.id)).one()
    # The app's developer sees and may stop the user's instance (REST's rule) but may not remove it.
    assert dev.get(f"/portal/instances/{users_instance}").status_code == 200
    assert dev.post(f"/portal/instances/{users_instance}/delete").status_code == 403
    # Another developer may not even see it.
    admin = signed_in(Role.PLATFORM_ADMIN)
    other_id = add_app(backends, user_name(Role.PLATFORM_ADMIN), {"name": "weather-board", "entry": "b:main"})
    with backends.store.session() as session:
        session.add(
            AppInstance(
                id="i0000000000000f", app_id=other_id, owner_id=None, location=ROOM, token_hash="f" * 64
            )
        )
    assert dev.get("/portal/instances/i0000000000000f").status_code == 403
    assert dev.post("/portal/instances/i0000000000000f/start").status_code == 403
    assert dev.get("/portal/instances/inope").status_code == 404
    # The developer's list holds their own instances only (as REST lists them); the admin's all.
    assert users_instance not in dev.get("/portal/instances").get_data(as_text=True)
    everything = admin.get("/portal/instances").get_data(as_text=True)
    assert users_instance in everything and "i0000000000000f" in everything
    assert "i0000000000000f" not in admin.get("/portal/instances?q=room-climate").get_data(as_text=True)
    # Apps: the developer's own by default, every developer's on request; filter by name.
    assert other_id not in dev.get("/portal/apps").get_data(as_text=True)
    assert other_id in dev.get("/portal/apps?all=1").get_data(as_text=True)
    assert app_id not in admin.get("/portal/apps?q=weather").get_data(as_text=True)


def test_apps_list_pages(signed_in: SignIn, backends: Backends) -> None:
    dev = signed_in(Role.APP_DEVELOPER)
    for number in range(51):
        add_app(backends, user_name(Role.APP_DEVELOPER), {"name": f"app-{number:02}", "entry": "a:main"})
    first = dev.get("/portal/apps").get_data(as_text=True)
    assert "51 in all · page 1 of 2" in first and first.count('href="/portal/apps/a') == 50
    second = dev.get("/portal/apps?page=2").get_data(as_text=True)
    assert second.count('href="/portal/apps/a') == 1 and ">app-50<" in second and 'rel="prev"' in second
    assert "10 in all" in dev.get("/portal/apps?q=app-1").get_data(as_text=True)


def test_instances_list_pages(signed_in: SignIn, backends: Backends) -> None:
    admin = signed_in(Role.PLATFORM_ADMIN)
    app_id = add_app(backends, user_name(Role.PLATFORM_ADMIN), {"name": "weather-board", "entry": "b:main"})
    with backends.store.session() as session:
        session.add_all(
            AppInstance(id=f"i{number:014x}", app_id=app_id, location=ROOM, token_hash=f"{number:064x}")
            for number in range(51)
        )
    first = admin.get("/portal/instances").get_data(as_text=True)
    assert "51 in all · page 1 of 2" in first and first.count('href="/portal/instances/i') == 50
    second = admin.get("/portal/instances?page=2").get_data(as_text=True)
    assert second.count('href="/portal/instances/i') == 1 and 'rel="prev"' in second
    assert "1 in all" in admin.get("/portal/instances?q=i00000000000032").get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.END_USER, Role.AI_DEVELOPER])
def test_other_roles_are_refused(signed_in: SignIn, role: Role) -> None:
    browser = signed_in(role)
    for path in ("/portal/apps", "/portal/apps/upload", "/portal/instances", "/portal/apps/a00000000000000"):
        assert browser.get(path).status_code == 403, path
    assert browser.post("/portal/apps/upload", {}).status_code == 403
