"""Model names belong to their owner: per-owner uniqueness, versions, and how a reference resolves."""

from __future__ import annotations

import io
from datetime import timedelta

from flask.testing import FlaskClient

from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.fixtures.model_packages.corpus import modern_files, zip_bytes
from tests.functional.conftest import bearer


def _headers(backends: Backends, name: str, role: Role) -> dict[str, str]:
    with backends.store.session() as session:
        user = accounts.create_user(session, name, role, "password-123")
        return bearer(accounts.issue_token(session, user, timedelta(hours=1)).secret)


def _upload(client: FlaskClient, headers: dict[str, str], version: str) -> tuple[int, str]:
    package = zip_bytes(modern_files(name="fan-health", version=version))
    reply = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(package), "model.zip")},
        headers=headers,
        content_type="multipart/form-data",
    )
    return reply.status_code, (reply.get_json() or {}).get("id", "")


def test_names_are_unique_per_owner_and_resolve_to_the_callers_own(
    client: FlaskClient, backends: Backends
) -> None:
    deva = _headers(backends, "deva", Role.AI_DEVELOPER)
    devb = _headers(backends, "devb", Role.AI_DEVELOPER)
    eve = _headers(backends, "eve", Role.END_USER)
    status, first = _upload(client, deva, "1.0.0")
    assert status == 201
    assert _upload(client, deva, "1.0.0")[0] == 409
    status, theirs = _upload(client, devb, "1.0.0")
    assert status == 201
    status, newer = _upload(client, deva, "1.1.0")
    assert status == 201

    def resolved(ref: str, headers: dict[str, str]) -> str | int:
        reply = client.get(f"/api/v1/models/{ref}/endpoints", headers=headers)
        return reply.get_json()["model_id"] if reply.status_code == 200 else reply.status_code

    assert resolved("fan-health", deva) == resolved("deva/fan-health", eve) == newer
    assert resolved("fan-health", devb) == resolved("devb/fan-health", deva) == theirs
    assert resolved(first, eve) == first
    assert resolved("fan-health", eve) == 404
    assert resolved("nobody/fan-health", deva) == 404
    missing = client.get("/api/v1/models/fan-health", headers=eve).get_json()["error"]["message"]
    assert "owner/name" in missing
