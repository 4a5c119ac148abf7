"""Fixtures for services running together on the embedded backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from canopy.config import load_config
from canopy.roles import ALL_ROLES, Role
from canopy.runtime.backends import Backends, open_backends
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.service import bootstrap_admin

ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture()
def backends(canopy_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backends]:
    """Embedded SQLite bus and store and a file blob store, with the admin user created."""
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", ADMIN_PASSWORD)
    opened = open_backends(load_config())
    bootstrap_admin(opened)
    yield opened
    opened.close()


@pytest.fixture()
def client(backends: Backends) -> Iterator[FlaskClient]:
    """A test client of the gateway app; its device feed stops afterwards."""
    app = create_app(backends)
    yield app.test_client()
    app.extensions["canopy"].close()


@pytest.fixture()
def issue_token(backends: Backends) -> Callable[[Role], str]:
    """A function that issues a fresh bearer token for a user of the given role."""
    with backends.store.session() as session:
        for role in ALL_ROLES:
            accounts.create_user(session, _user_name(role), role, "password-123")

    def issue(role: Role) -> str:
        with backends.store.session() as session:
            user = accounts.find_user(session, _user_name(role))
            return accounts.issue_token(session, user, timedelta(hours=1)).secret

    return issue


@pytest.fixture()
def role_tokens(issue_token: Callable[[Role], str]) -> dict[Role, str]:
    """A bearer token for a user of each role."""
    return {role: issue_token(role) for role in ALL_ROLES}


def _user_name(role: Role) -> str:
    return f"user-{role.value}".replace("_", "-")


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
