"""Fixtures for portal pages on the embedded backends: signed-in browsers as test clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from canopy.roles import ALL_ROLES, Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.portal_forms import PortalBrowser

PORTAL_PASSWORD = "password-123"


def user_name(role: Role) -> str:
    """The test user of a role."""
    return f"portal-{role.value.replace('_', '-')}"


@pytest.fixture()
def portal_users(backends: Backends) -> dict[Role, str]:
    """One user per role, by role."""
    with backends.store.session() as session:
        for role in ALL_ROLES:
            accounts.create_user(session, user_name(role), role, PORTAL_PASSWORD)
    return {role: user_name(role) for role in ALL_ROLES}


@pytest.fixture()
def signed_in(
    client: FlaskClient, portal_users: dict[Role, str]
) -> Iterator[Callable[[Role], PortalBrowser]]:
    """A function giving a browser (its own cookie jar) signed in as the user of a role."""
    app: Flask = client.application
    browsers: list[PortalBrowser] = []

    def sign_in(role: Role) -> PortalBrowser:
        browser = PortalBrowser(app.test_client())
        browser.sign_in(portal_users[role], PORTAL_PASSWORD)
        browsers.append(browser)
        return browser

    yield sign_in
