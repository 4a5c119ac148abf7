"""Fixtures for services running together on the embedded backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from canopy.config import load_config
from canopy.roles import Role
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
def client(backends: Backends) -> FlaskClient:
    """A test client of the gateway app."""
    return create_app(backends).test_client()


@pytest.fixture()
def role_tokens(backends: Backends) -> dict[Role, str]:
    """A bearer token for a user of each role."""
    tokens = {}
    with backends.store.session() as session:
        for role in Role:
            user = accounts.create_user(session, f"user-{role.value}".replace("_", "-"), role, "password-123")
            tokens[role] = accounts.issue_token(session, user, timedelta(hours=1)).secret
    return tokens


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
