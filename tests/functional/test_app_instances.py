"""App instances over REST on the embedded backends: binding, explanations, exclusive holds, who sees what."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway import accounts
from tests.app_world import ROOM, add_app, body, manifest, seed_devices, upload_model
from tests.functional.conftest import bearer

World = dict[str, Any]


@pytest.fixture()
def world(client: FlaskClient, backends: Backends, role_tokens: dict[Role, str]) -> World:
    """Devices, ai_developer's model, app_developer's app, and tokens (plus a second end user, mallory)."""
    seed_devices(backends)
    model_id = upload_model(client, role_tokens[Role.AI_DEVELOPER])
    app_id = add_app(backends, "user-app-developer", manifest("user-ai-developer/fan-health"))
    with backends.store.session() as session:
        mallory = accounts.create_user(session, "mallory", Role.END_USER, "password-123")
        other = accounts.issue_token(session, mallory, timedelta(hours=1)).secret
    tokens = {role.value: bearer(token) for role, token in role_tokens.items()}
    return {"model_id": model_id, "app_id": app_id, "mallory": bearer(other), **tokens}


def create(client: FlaskClient, world: World, request: dict[str, Any], who: str = "end_user") -> Any:
    """POST an instance of the world's app."""
    return client.post(f"/api/v1/apps/{world['app_id']}/instances", json=request, headers=world[who])


def test_an_instance_binds_nearest_devices_and_resolves_models(client: FlaskClient, world: World) -> None:
    reply = create(client, world, body("HYD/Plant/ room-1 /"))
    assert reply.status_code == 201, reply.get_json()
    view = reply.get_json()
    assert view["id"].startswith("i") and view["status"] == "created" and view["app"] == "fan-monitor"
    assert view["location"] == ROOM and view["owner"] == "user-end-user"
    assert view["bindings"] == {
        "room_temp": {"device": "t-room", "type": "THERMOMETER", "kind": "sensor"},
        "fan": {"device": "fan-1", "type": "SMARTFAN", "kind": "controller"},
    }
    assert view["models"] == {"anomaly": world["model_id"]} and view["holds"] == ["fan-1"]
    shown = client.get(f"/api/v1/app-instances/{view['id']}", headers=world["end_user"]).get_json()
    assert shown["bindings"] == view["bindings"] and shown["holds"] == ["fan-1"]


def test_binding_failures_explain_themselves(client: FlaskClient, world: World) -> None:
    reply = create(client, world, body("blr"), "app_developer")
    assert reply.status_code == 201  # blr/office has one of each
    missing = create(client, world, body("hyd/plant/room-2"))
    assert missing.status_code == 422
    message = missing.get_json()["error"]["message"]
    assert message.startswith(
        "no THERMOMETER at hyd/plant/room-2 for role 'room_temp' (3 THERMOMETER devices elsewhere: "
        "t-room at hyd/plant/room-1, t-deep at hyd/plant/room-1/rack-1, t-far at blr/office)"
    ), message
    cases = [
        (body(ROOM, room_temp="t-far"), 422, "t-far is at blr/office, not at or under hyd/plant/room-1"),
        (body(ROOM, room_temp="fan-1"), 422, "needs a THERMOMETER, but fan-1 is a SMARTFAN"),
        (body(ROOM, room_temp="ghost"), 422, "no device 'ghost'"),
        (body(ROOM, lamp="t-room"), 400, "does not declare: lamp"),
        ({"location": "///"}, 400, "location"),
        ({"location": ROOM, "bind": ["t-room"]}, 400, "bind is an object"),
    ]
    for request, status, text in cases:
        reply = create(client, world, request)
        assert reply.status_code == status and text in reply.get_json()["error"]["message"], reply.get_json()
    picked = create(client, world, body(ROOM, room_temp="t-deep"))
    assert picked.get_json()["bindings"]["room_temp"]["device"] == "t-deep"


def test_an_unknown_app_or_a_vanished_model_is_refused(
    client: FlaskClient, backends: Backends, world: World
) -> None:
    reply = client.post("/api/v1/apps/a0000000000000/instances", json=body(ROOM), headers=world["end_user"])
    assert reply.status_code == 404
    ghost = add_app(backends, "user-app-developer", manifest("user-ai-developer/no-such-model", name="ghost"))
    reply = client.post(f"/api/v1/apps/{ghost}/instances", json=body(ROOM), headers=world["end_user"])
    assert (
        reply.status_code == 422
        and "no model 'user-ai-developer/no-such-model'" in reply.get_json()["error"]["message"]
    )
    ranged = manifest("user-ai-developer/fan-health", name="ranged")
    ranged["models"][0]["version"] = ">=9"
    app_id = add_app(backends, "user-app-developer", ranged)
    reply = client.post(f"/api/v1/apps/{app_id}/instances", json=body(ROOM), headers=world["end_user"])
    assert (
        reply.status_code == 422
        and "no version of fan-health matches '>=9'" in reply.get_json()["error"]["message"]
    )


def test_an_exclusive_controller_is_held_until_its_instance_is_removed(
    client: FlaskClient, world: World
) -> None:
    first = create(client, world, body(ROOM)).get_json()["id"]
    second = create(client, world, body(ROOM), "mallory")
    assert second.status_code == 409, second.get_json()
    assert f"fan-1 is held exclusively by instance {first}" in second.get_json()["error"]["message"]
    picked = create(client, world, body("hyd", fan="fan-1"), "mallory")
    assert picked.status_code == 409 and first in picked.get_json()["error"]["message"]
    assert client.delete(f"/api/v1/app-instances/{first}", headers=world["mallory"]).status_code == 403
    assert client.delete(f"/api/v1/app-instances/{first}", headers=world["end_user"]).status_code == 204
    assert client.get(f"/api/v1/app-instances/{first}", headers=world["end_user"]).status_code == 404
    again = create(client, world, body(ROOM), "mallory")
    assert again.status_code == 201 and again.get_json()["holds"] == ["fan-1"]


def test_of_two_concurrent_creates_exactly_one_wins(client: FlaskClient, world: World) -> None:
    app = client.application
    replies: list[Any] = []
    start = threading.Barrier(2)

    def attempt(who: str) -> None:
        start.wait()
        replies.append(create(app.test_client(), world, body(ROOM), who))

    threads = [threading.Thread(target=attempt, args=(who,)) for who in ("end_user", "mallory")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(reply.status_code for reply in replies)
    assert statuses == [201, 409], [reply.get_json() for reply in replies]
    winner = next(reply.get_json()["id"] for reply in replies if reply.status_code == 201)
    loser = next(reply.get_json() for reply in replies if reply.status_code == 409)
    assert f"held exclusively by instance {winner}" in loser["error"]["message"]


def test_who_lists_sees_and_removes_instances(
    client: FlaskClient, world: World, issue_token: Callable[[Role], str]
) -> None:
    mine = create(client, world, body(ROOM)).get_json()["id"]
    theirs = create(client, world, body("blr"), "mallory").get_json()["id"]

    def listed(who: str) -> list[str]:
        return [
            view["id"]
            for view in client.get("/api/v1/app-instances", headers=world[who]).get_json()["instances"]
        ]

    assert listed("end_user") == [mine] and listed("mallory") == [theirs]
    assert sorted(listed("platform_admin")) == sorted([mine, theirs]) and listed("app_developer") == []
    for who, status in [("end_user", 200), ("app_developer", 200), ("platform_admin", 200), ("mallory", 403)]:
        assert client.get(f"/api/v1/app-instances/{mine}", headers=world[who]).status_code == status, who
    assert client.get(f"/api/v1/app-instances/{mine}", headers=world["ai_developer"]).status_code == 403
    assert client.delete(f"/api/v1/app-instances/{mine}", headers=world["app_developer"]).status_code == 403
    assert (
        client.delete(f"/api/v1/app-instances/{theirs}", headers=world["platform_admin"]).status_code == 204
    )
    assert create(client, world, body(ROOM), "ai_developer").status_code == 403
