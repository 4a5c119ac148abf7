"""A world for the app and catalogue pages: types, models, devices, and uploads as a developer makes them."""

from __future__ import annotations

import html
import io
import re

from canopy import devices
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.fixtures.app_packages.corpus import register_references
from tests.functional.portal.conftest import user_name
from tests.portal_forms import PortalBrowser

ROOM = "hyd/lab/room-1"
OFFICE = "blr/office"
# id -> (type, location): the room has what room-climate needs (TEMP and an exclusive FAN); the office no FAN.
DEVICES = {"temp-1": ("TEMP", ROOM), "fan-1": ("FAN", ROOM), "temp-2": ("TEMP", OFFICE)}
APP_ID = re.compile(r"/portal/apps/(a[0-9a-f]{14})")
INSTANCE_ID = re.compile(r"/portal/instances/(i[0-9a-f]{14})")


def seed(backends: Backends) -> None:
    """The corpus's device types and models (owned by the portal's app developer), and DEVICES."""
    with backends.store.session() as session:
        register_references(session, accounts.find_user(session, user_name(Role.APP_DEVELOPER)).id)
    with backends.store.session() as session:
        for device_id, (type_name, location) in DEVICES.items():
            spec = devices.parse_device({"id": device_id, "type": type_name, "location": location})
            devices.create_device(session, spec)


def upload(browser: PortalBrowser, data: bytes, name: str = "app.zip") -> tuple[int, str]:
    """Upload a package through the portal's form: the status and the page (or redirect) it answered."""
    browser.get("/portal/apps/upload")
    reply = browser.post(
        "/portal/apps/upload", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    return reply.status_code, reply.headers.get("Location") or text(reply.get_data(as_text=True))


def uploaded(browser: PortalBrowser, data: bytes) -> str:
    """Upload a good package; its app id."""
    status, where = upload(browser, data)
    assert status == 303, where
    found = APP_ID.search(where)
    assert found, where
    return found.group(1)


def text(page: str) -> str:
    """A page's HTML with its entities decoded, for plain-text assertions."""
    return html.unescape(page)
