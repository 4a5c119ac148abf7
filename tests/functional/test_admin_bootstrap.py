"""The first administrator is created once; the last platform_admin cannot be removed."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import select, text

from canopy.errors import Conflict
from canopy.roles import Role
from canopy.runtime.backends import Backends
from canopy.store import alembic_config, open_store
from canopy.store.models import PlatformMarker, User
from services.gateway import accounts
from services.gateway.passwords import hash_password
from services.gateway.service import bootstrap_admin
from tests.functional.conftest import ADMIN_PASSWORD, bearer


def _token(client: FlaskClient, user: str, password: str) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"user": user, "password": password})
    assert reply.status_code == 201, reply.get_json()
    return bearer(str(reply.get_json()["token"]))


def _user_names(backends: Backends) -> set[str]:
    with backends.store.session() as session:
        return set(session.scalars(select(User.name)))


def test_removed_admin_is_not_recreated_by_a_later_start(client: FlaskClient, backends: Backends) -> None:
    admin = _token(client, "admin", ADMIN_PASSWORD)
    body = {"name": "root2", "role": "platform_admin", "password": "root2-password"}
    assert client.post("/api/v1/users", headers=admin, json=body).status_code == 201
    root2 = _token(client, "root2", "root2-password")
    assert client.delete("/api/v1/users/admin", headers=root2).status_code == 204
    assert bootstrap_admin(backends) is None
    assert _user_names(backends) == {"root2"}


def test_an_admin_cannot_remove_itself_so_one_always_remains(client: FlaskClient, backends: Backends) -> None:
    with backends.store.session() as session:
        accounts.create_user(session, "helper", Role.PLATFORM_ADMIN, "helper-password")
    helper = _token(client, "helper", "helper-password")
    assert client.delete("/api/v1/users/admin", headers=helper).status_code == 204
    refused = client.delete("/api/v1/users/helper", headers=helper)
    assert refused.status_code == 409
    assert _user_names(backends) == {"helper"}


def test_last_enabled_platform_admin_is_kept_with_a_reason(backends: Backends) -> None:
    with backends.store.session() as session:
        accounts.create_user(session, "retired", Role.PLATFORM_ADMIN, "retired-password").disabled = True
        accounts.create_user(session, "ops", Role.AI_DEVELOPER, "ops-password")
    other = accounts.Principal(0, "someone-else", Role.PLATFORM_ADMIN, "t")
    with pytest.raises(Conflict) as refused, backends.store.session() as session:
        accounts.delete_user(session, "admin", other)
    assert "'admin' is the last platform_admin; add another platform_admin" in refused.value.message
    with backends.store.session() as session:
        accounts.delete_user(session, "retired", other)
        accounts.delete_user(session, "ops", other)
    assert _user_names(backends) == {"admin"}


def test_first_start_creates_admin_once_with_a_generated_password(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'canopy.db'}")
    store.migrate()
    with store.session() as session:
        generated = accounts.ensure_admin(session, None)
    assert generated and len(generated) >= 20
    with store.session() as session:
        assert accounts.ensure_admin(session, None) is None
        assert session.get(PlatformMarker, accounts.ADMIN_BOOTSTRAPPED) is not None
        session.delete(accounts.find_user(session, "admin"))
    with store.session() as session:
        assert accounts.ensure_admin(session, "chosen-password") is None
        assert session.scalar(select(User.name)) is None
    store.close()


def test_upgrade_of_a_platform_with_users_counts_as_bootstrapped(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'canopy.db'}")
    with store.engine.connect() as connection:
        command.upgrade(alembic_config(connection), "0006_merge_features")
        # A user row as that schema had it (the ORM model has columns added since).
        connection.execute(
            text(
                "INSERT INTO users (name, role, password_hash, created_at, disabled) "
                "VALUES ('ops', :role, :hash, CURRENT_TIMESTAMP, false)"
            ),
            {"role": Role.PLATFORM_ADMIN.value, "hash": hash_password("ops-password")},
        )
        connection.commit()
    store.migrate()
    with store.session() as session:
        assert accounts.ensure_admin(session, None) is None
        assert session.scalar(select(User.name).where(User.name == "admin")) is None
    store.close()
