"""Gateway limits on the embedded backends: acknowledgements wake waiters, bodies, nesting, login throttle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from canopy import devices
from canopy.roles import Role
from canopy.runtime.backends import Backends
from services.gateway.limits import JSON_BYTES, LOGIN_BYTES
from tests.fake_controllers import acknowledging
from tests.fixtures.device_packages.corpus import sample
from tests.functional.conftest import ADMIN_PASSWORD, bearer


@pytest.fixture()
def controller(backends: Backends) -> Iterator[list[str]]:
    """A kafka-transport fan that acknowledges each command one second later, straight on the bus."""
    with backends.store.session() as session:
        devices.register_type(session, devices.parse_type(sample("types/fan.json")))
        spec = devices.parse_device(
            {"id": "fan-1", "type": "SMARTFAN", "location": "hyd", "transport": "kafka"}
        )
        devices.create_device(session, spec)
    with acknowledging(backends.bus, lambda command: {"on": command.params.get("on")}, delay=1.0) as acked:
        yield acked


def test_an_acknowledgement_wakes_the_waiting_request_without_polling_the_store(
    client: FlaskClient, backends: Backends, controller: list[str], role_tokens: dict[Role, str]
) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "device_commands" in statement:
            statements.append(statement.split()[0])

    event.listen(backends.store.engine, "before_cursor_execute", count)
    try:
        started = time.monotonic()
        reply = client.post(
            "/api/v1/devices/fan-1/commands",
            json={"params": {"on": True}, "timeout": 10},
            headers=bearer(role_tokens[Role.PLATFORM_ADMIN]),
        )
        elapsed = time.monotonic() - started
    finally:
        event.remove(backends.store.engine, "before_cursor_execute", count)
    assert reply.status_code == 200, reply.get_json()
    view = reply.get_json()
    assert view["status"] == "acked" and view["state"] == {"on": True} and controller == [view["command_id"]]
    assert 1.0 <= elapsed < 8.0
    assert statements.count("SELECT") == 0 and statements.count("INSERT") == 1, statements


@pytest.mark.parametrize(
    ("path", "limit", "authorized"),
    [("/api/v1/auth/login", LOGIN_BYTES, False), ("/api/v1/users", JSON_BYTES, True)],
)
def test_bodies_over_the_route_limit_are_refused_before_authentication(
    client: FlaskClient, role_tokens: dict[Role, str], path: str, limit: int, authorized: bool
) -> None:
    body = b'{"user": "' + b"x" * limit + b'"}'
    anonymous = client.post(path, data=body, content_type="application/json")
    assert anonymous.status_code == 413 and str(limit) in anonymous.get_json()["error"]["message"]
    if authorized:
        signed_in = bearer(role_tokens[Role.PLATFORM_ADMIN])
        assert (
            client.post(path, data=body, content_type="application/json", headers=signed_in).status_code
            == 413
        )


def test_json_nesting_is_bounded_but_ordinary_bodies_pass(
    client: FlaskClient, role_tokens: dict[Role, str]
) -> None:
    admin = bearer(role_tokens[Role.PLATFORM_ADMIN])
    deep = {"name": "x"}
    for _ in range(40):
        deep = {"nested": deep}
    refused = client.post(
        "/api/v1/users", json={"name": "n", "role": "end_user", "password": "p", "x": deep}, headers=admin
    )
    assert refused.status_code == 400 and "32 levels" in refused.get_json()["error"]["message"]
    brackets_in_strings = {"name": "ok-user", "role": "end_user", "password": "[[[[{{{{" * 50}
    assert client.post("/api/v1/users", json=brackets_in_strings, headers=admin).status_code == 201


def test_logins_are_throttled_per_address_and_success_clears_the_pair(client: FlaskClient) -> None:
    def login(address: str, password: str) -> int:
        reply = client.post(
            "/api/v1/auth/login",
            json={"user": "admin", "password": password},
            environ_base={"REMOTE_ADDR": address},
        )
        return reply.status_code

    assert [login("10.0.0.1", "wrong-password") for _ in range(10)] == [401] * 10
    assert login("10.0.0.1", ADMIN_PASSWORD) == 429
    assert login("10.0.0.2", ADMIN_PASSWORD) == 201
    assert [login("10.0.0.2", "wrong-password") for _ in range(9)] == [401] * 9
    assert login("10.0.0.2", ADMIN_PASSWORD) == 201
    assert login("10.0.0.2", "wrong-password") == 401


def test_command_waits_count_against_the_users_long_lived_slots(
    client: FlaskClient, controller: list[str], role_tokens: dict[Role, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    slots = client.application.extensions["canopy"].slots
    monkeypatch.setattr(slots, "per_user", 1)
    admin = bearer(role_tokens[Role.PLATFORM_ADMIN])
    stream = client.get("/api/v1/devices/fan-1/stream?timeout=30", headers=admin)
    assert stream.status_code == 200 and slots.held() == 1
    busy = client.post("/api/v1/devices/fan-1/commands", json={"params": {"on": True}}, headers=admin)
    assert busy.status_code == 429 and "CANOPY_STREAMS_PER_USER" in busy.get_json()["error"]["message"]
    stream.close()
    assert slots.held() == 0
