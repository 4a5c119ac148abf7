"""An attacker holding an app instance's credential reaches exactly what the instance is bound to.

The instance binds t-room (a sensor) and fan-1 (an exclusive controller) and declares one model; the
attacker tries everything else from outside through the gateway.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy.apps.credentials import issue_instance_token, revoke_instance_token
from canopy.contracts import decode, topics
from canopy.contracts.notifications import NotificationRequest
from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.app_world import ROOM, add_app, body, manifest, seed_devices, upload_model
from tests.fixtures.model_packages.corpus import good_modern_package, modern_files, zip_bytes
from tests.functional.conftest import bearer

World = dict[str, Any]


@pytest.fixture()
def world(client: FlaskClient, backends: Backends, role_tokens: dict[Role, str]) -> World:
    """An instance of end_user's at ROOM, its workload credential, and a model it did not declare."""
    seed_devices(backends)
    declared = upload_model(client, role_tokens[Role.AI_DEVELOPER])
    other = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(zip_bytes(modern_files(name="other-model"))), "model.zip")},
        headers=bearer(role_tokens[Role.AI_DEVELOPER]),
        content_type="multipart/form-data",
    ).get_json()["id"]
    app_id = add_app(backends, "user-app-developer", manifest(declared))
    user = bearer(role_tokens[Role.END_USER])
    created = client.post(f"/api/v1/apps/{app_id}/instances", json=body(ROOM), headers=user)
    assert created.status_code == 201, created.get_json()
    instance_id = created.get_json()["id"]
    with backends.store.session() as session:
        token = issue_instance_token(session, instance_id)
    return {
        "instance": instance_id,
        "app": app_id,
        "token": token,
        "declared": declared,
        "other": other,
        "user": user,
        "admin": bearer(role_tokens[Role.PLATFORM_ADMIN]),
    }


def as_workload(world: World) -> dict[str, str]:
    """The attacker's headers: the instance credential."""
    return bearer(world["token"])


def test_the_workload_reads_its_own_view_with_type_definitions(client: FlaskClient, world: World) -> None:
    view = client.get("/api/v1/app-instances/self", headers=as_workload(world)).get_json()
    assert view["id"] == world["instance"] and view["app_id"] == world["app"] and view["format"] == "canopy"
    assert view["devices"]["room_temp"]["device"] == "t-room"
    assert view["devices"]["room_temp"]["definition"]["fields"]["temperature"]["type"] == "float"
    assert (
        view["devices"]["fan"]["kind"] == "controller"
        and "set" in view["devices"]["fan"]["definition"]["commands"]
    )
    assert view["models"] == {"anomaly": world["declared"]}
    assert client.get("/api/v1/app-instances/self", headers=world["user"]).status_code == 403


def test_only_bound_devices_are_read_or_streamed(client: FlaskClient, world: World) -> None:
    workload = as_workload(world)
    assert client.get("/api/v1/devices/t-room/latest", headers=workload).status_code == 200
    assert client.get("/api/v1/devices/fan-1/latest", headers=workload).status_code == 200
    stream = client.get("/api/v1/devices/t-room/stream?timeout=0.1", headers=workload)
    assert stream.status_code == 200
    stream.close()
    for device in ("t-deep", "t-far", "fan-far", "no-such-device"):
        for path in (f"/api/v1/devices/{device}/latest", f"/api/v1/devices/{device}/stream?timeout=0.1"):
            reply = client.get(path, headers=workload)
            assert reply.status_code == 403, (path, reply.get_json())
            assert "not bound to app instance" in reply.get_json()["error"]["message"]


def test_only_bound_controllers_are_commanded(client: FlaskClient, world: World) -> None:
    workload = as_workload(world)
    command = {"command": "stop", "timeout": 0.2}
    for device in ("t-room", "fan-far", "t-far"):
        reply = client.post(f"/api/v1/devices/{device}/commands", json=command, headers=workload)
        assert reply.status_code == 403, (device, reply.get_json())
    assert (
        "is a sensor bound"
        in client.post("/api/v1/devices/t-room/commands", json=command, headers=workload).get_json()["error"][
            "message"
        ]
    )
    # The bound controller takes the command; nothing acknowledges it here, so it times out (504).
    assert client.post("/api/v1/devices/fan-1/commands", json=command, headers=workload).status_code == 504


def test_only_declared_models_resolve(client: FlaskClient, world: World) -> None:
    workload = as_workload(world)
    assert client.get(f"/api/v1/models/{world['declared']}/endpoints", headers=workload).status_code == 200
    for ref in (
        world["other"],
        "user-ai-developer/other-model",
        "user-ai-developer/fan-health",
        "fan-health",
    ):
        reply = client.get(f"/api/v1/models/{ref}/endpoints", headers=workload)
        assert reply.status_code == 403, (ref, reply.get_json())


def test_an_old_or_revoked_credential_is_refused(
    client: FlaskClient, backends: Backends, world: World
) -> None:
    old = as_workload(world)
    with backends.store.session() as session:
        new = bearer(issue_instance_token(session, world["instance"]))
    assert client.get("/api/v1/app-instances/self", headers=old).status_code == 401
    assert client.get("/api/v1/devices/t-room/latest", headers=old).status_code == 401
    assert client.get("/api/v1/app-instances/self", headers=new).status_code == 200
    with backends.store.session() as session:
        revoke_instance_token(session, world["instance"])
    assert client.get("/api/v1/app-instances/self", headers=new).status_code == 401
    forged = f"cni_{world['instance']}_{'A' * 43}"
    for token in (forged, "cni_", "cni_nope_x", world["token"] + "x"):
        assert client.get("/api/v1/app-instances/self", headers=bearer(token)).status_code == 401, token


def test_a_removed_instance_credential_is_refused(client: FlaskClient, world: World) -> None:
    assert (
        client.delete(f"/api/v1/app-instances/{world['instance']}", headers=world["user"]).status_code == 204
    )
    assert client.get("/api/v1/devices/t-room/latest", headers=as_workload(world)).status_code == 401


def test_a_workload_credential_is_refused_on_user_routes(client: FlaskClient, world: World) -> None:
    workload = as_workload(world)
    upload = client.post(
        "/api/v1/models",
        data={"file": (io.BytesIO(good_modern_package()), "model.zip")},
        headers=workload,
        content_type="multipart/form-data",
    )
    assert upload.status_code == 403
    refused = [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/devices"),
        ("GET", "/api/v1/devices/t-room"),
        ("GET", "/api/v1/locations"),
        ("GET", "/api/v1/auth/whoami"),
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/app-instances"),
        ("GET", f"/api/v1/app-instances/{world['instance']}"),
        ("DELETE", f"/api/v1/app-instances/{world['instance']}"),
        ("POST", f"/api/v1/apps/{world['app']}/instances"),
        ("POST", f"/api/v1/models/{world['declared']}/deploy"),
        ("GET", f"/api/v1/models/{world['declared']}/deployment"),
        ("GET", "/api/v1/deployments"),
    ]
    for method, path in refused:
        reply = client.open(path, method=method, json={"location": ROOM}, headers=workload)
        assert reply.status_code == 403, (method, path, reply.get_json())


def test_users_never_get_the_workload_role(client: FlaskClient, world: World) -> None:
    reply = client.post(
        "/api/v1/users",
        json={"name": "w", "role": "workload", "password": "password-123"},
        headers=world["admin"],
    )
    assert reply.status_code == 400 and "never a user's" in reply.get_json()["error"]["message"]


def test_an_end_user_cannot_read_devices_directly_even_bound_ones(client: FlaskClient, world: World) -> None:
    for path in (
        "/api/v1/devices/t-room/latest",
        "/api/v1/devices/t-room/stream?timeout=0.1",
        "/api/v1/devices/t-room",
    ):
        assert client.get(path, headers=world["user"]).status_code == 403, path
    reply = client.post("/api/v1/devices/fan-1/commands", json={"command": "stop"}, headers=world["user"])
    assert reply.status_code == 403


def test_notifications_are_published_and_rate_limited(
    client: FlaskClient, backends: Backends, world: World
) -> None:
    workload = as_workload(world)
    note = {"subject": "fan failing", "body": "p=0.93", "to": "ops@example.com"}
    assert client.post("/api/v1/notifications", json=note, headers=world["user"]).status_code == 403
    bad = client.post("/api/v1/notifications", json={"subject": "", "body": "x"}, headers=workload)
    assert bad.status_code == 400 and "subject" in bad.get_json()["error"]["details"]
    assert client.post("/api/v1/notifications", json={**note, "cc": "x"}, headers=workload).status_code == 400
    for _ in range(10):
        assert client.post("/api/v1/notifications", json=note, headers=workload).status_code == 202
    limited = client.post("/api/v1/notifications", json=note, headers=workload)
    assert limited.status_code == 429 and "10 notifications" in limited.get_json()["error"]["message"]
    consumer = backends.bus.consumer("test-notifications", [topics.NOTIFICATIONS])
    received: list[NotificationRequest] = []
    try:
        for _ in range(50):
            record = consumer.poll(0.2)
            if record is not None:
                message = decode(record.value).message
                assert isinstance(message, NotificationRequest)
                received.append(message)
            elif received:
                break
    finally:
        consumer.close()
    assert len(received) == 10
    assert {(m.instance_id, m.user, m.subject, m.to) for m in received} == {
        (world["instance"], "user-end-user", "fan failing", "ops@example.com")
    }


@pytest.mark.parametrize(
    ("note", "field"),
    [
        ({"subject": "fan failing\r\nBcc: victim@example.net", "body": "x"}, "subject"),
        ({"subject": "fan failing\nX-Spam: yes", "body": "x"}, "subject"),
        ({"subject": "fan failing", "body": "x", "to": "ops@example.com\r\nBcc: victim@example.net"}, "to"),
        ({"subject": "fan failing", "body": "x", "to": "ops@example.com, victim@example.net"}, "to"),
        ({"subject": "fan failing", "body": "x", "to": "Ops <ops@example.com>"}, "to"),
        ({"subject": "fan failing", "body": "x", "to": "not-an-address"}, "to"),
    ],
)
def test_notification_header_injection_is_refused_and_nothing_is_published(
    client: FlaskClient, backends: Backends, world: World, note: dict[str, str], field: str
) -> None:
    consumer = backends.bus.consumer("test-injection", [topics.NOTIFICATIONS], from_beginning=True)
    try:
        reply = client.post("/api/v1/notifications", json=note, headers=as_workload(world))
        assert reply.status_code == 400 and field in reply.get_json()["error"]["details"]
        assert consumer.poll(0.5) is None
    finally:
        consumer.close()


def test_notification_recipients_are_limited_to_the_allowed_domains(
    client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = client.application.extensions["canopy"].backends.config
    allowed = type(config)({**config.values, "CANOPY_MAIL_RECIPIENT_DOMAINS": ("example.com",)})
    monkeypatch.setattr(client.application.extensions["canopy"].backends, "config", allowed)
    workload = as_workload(world)
    note = {"subject": "fan failing", "body": "x"}
    assert (
        client.post(
            "/api/v1/notifications", json={**note, "to": "ops@plant.example.com"}, headers=workload
        ).status_code
        == 202
    )
    refused = client.post("/api/v1/notifications", json={**note, "to": "ops@example.net"}, headers=workload)
    assert (
        refused.status_code == 400
        and "CANOPY_MAIL_RECIPIENT_DOMAINS" in refused.get_json()["error"]["message"]
    )
