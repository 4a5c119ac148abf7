"""Users, passwords and tokens through the REST API."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from canopy.runtime.backends import Backends
from canopy.store.models import User
from tests.functional.conftest import ADMIN_PASSWORD, bearer


def _login(client: FlaskClient, user: str, password: str) -> str:
    reply = client.post("/api/v1/auth/login", json={"user": user, "password": password})
    assert reply.status_code == 201, reply.get_json()
    return str(reply.get_json()["token"])


def test_health_is_public(client: FlaskClient) -> None:
    reply = client.get("/api/v1/health")
    assert reply.status_code == 200 and reply.get_json()["status"] == "ok"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and b"# TYPE canopy_" in metrics.data


def test_admin_logs_in_and_creates_users(client: FlaskClient, backends: Backends) -> None:
    admin = _login(client, "admin", ADMIN_PASSWORD)
    created = client.post(
        "/api/v1/users",
        headers=bearer(admin),
        json={"name": "ada", "role": "ai_developer", "password": "ada-password"},
    )
    assert created.status_code == 201
    ada = _login(client, "ada", "ada-password")
    assert client.get("/api/v1/auth/whoami", headers=bearer(ada)).get_json()["role"] == "ai_developer"
    with backends.store.session() as session:
        stored = session.scalar(select(User).where(User.name == "ada"))
        assert stored is not None and stored.password_hash.startswith("$argon2id$")
        assert "ada-password" not in stored.password_hash


def test_bad_user_input_is_refused_with_reasons(client: FlaskClient) -> None:
    admin = bearer(_login(client, "admin", ADMIN_PASSWORD))
    cases = [
        ({"name": "bob", "role": "wizard", "password": "long-enough"}, 400, "role"),
        ({"name": "bob", "role": "end_user", "password": "short"}, 400, "password"),
        ({"name": "Bad Name!", "role": "end_user", "password": "long-enough"}, 400, "name"),
        ({"name": "admin", "role": "end_user", "password": "long-enough"}, 409, None),
        ({"role": "end_user"}, 400, "name"),
    ]
    for body, status, field in cases:
        reply = client.post("/api/v1/users", headers=admin, json=body)
        assert reply.status_code == status, (body, reply.get_json())
        if field:
            assert field in reply.get_json()["error"]["details"]
    assert client.post("/api/v1/users", headers=admin, data="not json").status_code == 400


def test_wrong_password_then_throttled(client: FlaskClient) -> None:
    for _ in range(10):
        reply = client.post("/api/v1/auth/login", json={"user": "admin", "password": "wrong-password"})
        assert reply.status_code == 401
        assert reply.get_json()["error"]["message"] == "wrong user name or password"
    throttled = client.post("/api/v1/auth/login", json={"user": "admin", "password": ADMIN_PASSWORD})
    assert throttled.status_code == 429
    unknown = client.post("/api/v1/auth/login", json={"user": "ghost", "password": "whatever-1"})
    assert unknown.status_code == 401


def test_tokens_can_be_listed_and_revoked(client: FlaskClient) -> None:
    first = _login(client, "admin", ADMIN_PASSWORD)
    second = _login(client, "admin", ADMIN_PASSWORD)
    tokens = client.get("/api/v1/tokens", headers=bearer(first)).get_json()["tokens"]
    assert len(tokens) == 2 and all("token" not in t for t in tokens)
    other = next(t["token_id"] for t in tokens if not t["current"])
    assert client.delete(f"/api/v1/tokens/{other}", headers=bearer(first)).status_code == 204
    assert client.get("/api/v1/auth/whoami", headers=bearer(second)).status_code == 401
    assert client.delete("/api/v1/tokens/unknown", headers=bearer(first)).status_code == 404


def test_deleting_a_user_revokes_its_tokens(client: FlaskClient) -> None:
    admin = bearer(_login(client, "admin", ADMIN_PASSWORD))
    client.post(
        "/api/v1/users", headers=admin, json={"name": "eve", "role": "end_user", "password": "eve-password"}
    )
    eve = _login(client, "eve", "eve-password")
    assert client.delete("/api/v1/users/eve", headers=admin).status_code == 204
    assert client.get("/api/v1/auth/whoami", headers=bearer(eve)).status_code == 401
    assert client.delete("/api/v1/users/admin", headers=admin).status_code == 409
