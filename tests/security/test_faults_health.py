"""A standalone service's /health reports its store, bus and every component, and 503 names what failed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from bootstrap.launch import build_service
from canopy.config import Config
from canopy.errors import Unavailable
from canopy.runtime import Service
from canopy.runtime.backends import Backends
from canopy.runtime.ops import OpsServer
from canopy.runtime.subscription import SubscriptionLoop
from tests.deploy_helpers import wait_for


@pytest.fixture()
def node_manager(backends: Backends) -> Iterator[Service]:
    """The node manager as `canopy service node_manager` runs it, with its ops server."""
    backends.config = Config({**backends.config.values, "CANOPY_HEARTBEAT_INTERVAL": 0.2})
    service = build_service(backends, ["node_manager"])
    service.start()
    yield service
    service.stop()


def _health(service: Service) -> tuple[int, dict[str, Any]]:
    """GET /health of the service's ops server."""
    [ops] = [component for component in service.components if isinstance(component, OpsServer)]
    reply = requests.get(f"http://127.0.0.1:{ops.port}/health", timeout=5)
    body: dict[str, Any] = reply.json()
    return reply.status_code, body


def test_every_component_alive_answers_200(node_manager: Service) -> None:
    status, body = _health(node_manager)
    assert status == 200 and body["status"] == "ok" and body["failing"] == []
    names = set(body["components"])
    assert {"store", "ops-http", "heartbeat:node_manager"} <= names
    assert any(isinstance(c, SubscriptionLoop) and c.name in names for c in node_manager.components)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_subscription_loop_whose_thread_died_answers_503_naming_it(node_manager: Service) -> None:
    loop = next(c for c in node_manager.components if isinstance(c, SubscriptionLoop))

    def die() -> None:
        raise SystemExit("the loop's thread ends")

    loop.step = die  # type: ignore[method-assign]
    wait_for(lambda: loop.problem() is not None, 10, f"{loop.name} to die")
    status, body = _health(node_manager)
    assert status == 503 and body["failing"] == [loop.name]
    assert body["components"][loop.name] == "its thread died"


def test_an_unreachable_store_answers_503_naming_it(
    node_manager: Service, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> None:
        raise Unavailable("the database at postgresql://canopy:secret@db/canopy does not answer")

    monkeypatch.setattr(backends.store, "session", unreachable)
    status, body = _health(node_manager)
    assert status == 503 and "store" in body["failing"]
    assert body["components"]["store"] == "unreachable: Unavailable" and "secret" not in str(body)


def test_a_bus_that_takes_no_message_shows_as_the_heartbeat_failing(
    node_manager: Service, backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise Unavailable("bus down")

    monkeypatch.setattr(backends.bus, "publish", refuse)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _health(node_manager)[0] == 200:
        time.sleep(0.1)
    status, body = _health(node_manager)
    assert status == 503 and "heartbeat:node_manager" in body["failing"]
    assert body["components"]["heartbeat:node_manager"] == "failing: Unavailable"
    monkeypatch.undo()
    wait_for(lambda: _health(node_manager)[0] == 200, 10, "the heartbeat to recover")


def test_the_gateway_health_reports_the_components_of_its_process(
    backends: Backends, client: FlaskClient
) -> None:
    service = build_service(backends, ["node_manager"])
    service.start()
    try:
        body = client.get("/api/v1/health").get_json()
        assert body["status"] == "ok" and "heartbeat:node_manager" in body["components"]
        loop = next(c for c in service.components if isinstance(c, SubscriptionLoop))
        loop.stop()
        reply = client.get("/api/v1/health")
        assert reply.status_code == 503 and reply.get_json()["failing"] == [loop.name]
    finally:
        service.stop()
