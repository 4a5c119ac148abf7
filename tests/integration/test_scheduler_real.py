"""The scheduler on real Kafka and PostgreSQL.

A booking a few seconds ahead starts and stops on time; of concurrent overlapping bookings exactly
one wins under the advisory lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bootstrap.infra.kafka import KafkaCredentials
from canopy.config import load_config
from canopy.contracts import decode, topics
from canopy.contracts.bookings import BookingEvent
from canopy.contracts.deploy import DeployRequest
from canopy.errors import DecodeError
from canopy.roles import Role
from canopy.runtime.backends import Backends, open_backends
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.service import bootstrap_admin
from services.scheduler.service import scheduler_components
from tests.booking_world import booking_app, once, soon
from tests.conftest import kafka_environment
from tests.functional.conftest import bearer


@pytest.fixture()
def platform(
    canopy_home: Path,
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Backends, FlaskClient, dict[str, str]]]:
    """Backends on Kafka and a fresh PostgreSQL schema, the gateway, the fan app and two end users."""
    kafka_environment(monkeypatch, kafka_url, kafka_logins)
    server = make_url(postgres_url)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = server.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    monkeypatch.setenv("CANOPY_DB_URL", url)
    monkeypatch.setenv("CANOPY_ADMIN_PASSWORD", "admin-password-1")
    monkeypatch.setenv("CANOPY_BOOKING_LEAD_SECONDS", "1")
    backends = open_backends(load_config())
    bootstrap_admin(backends)
    app = create_app(backends)
    tokens: dict[str, str] = {}
    with backends.store.session() as session:
        for name, role in (
            ("user-app-developer", Role.APP_DEVELOPER),
            ("eve", Role.END_USER),
            ("bob", Role.END_USER),
        ):
            user = accounts.create_user(session, name, role, "password-123")
            tokens[name] = accounts.issue_token(session, user, timedelta(hours=1)).secret
    try:
        client = app.test_client()
        tokens["app"] = booking_app(client, backends, "")
        yield backends, client, tokens
    finally:
        app.extensions["canopy"].close()
        backends.close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def test_a_booking_seconds_ahead_starts_then_stops_over_kafka(
    platform: tuple[Backends, FlaskClient, dict[str, str]],
) -> None:
    backends, client, tokens = platform
    start = soon(4)
    reply = client.post(
        "/api/v1/bookings",
        json=once(tokens["app"], start, timedelta(seconds=4)),
        headers=bearer(tokens["eve"]),
    )
    assert reply.status_code == 201, reply.get_json()
    booking_id = reply.get_json()["id"]
    consumer = backends.bus.consumer(
        f"test-sched-{uuid.uuid4().hex[:8]}", [topics.BOOKINGS, topics.DEPLOY_REQUESTS]
    )
    components = scheduler_components(backends)
    for component in components:
        component.start()
    seen: list[BookingEvent] = []
    requests: list[DeployRequest] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is None:
                continue
            try:
                message = decode(record.value).message
            except DecodeError:
                continue  # another client's message on the shared broker
            if isinstance(message, BookingEvent) and message.booking_id == booking_id:
                seen.append(message)
            elif isinstance(message, DeployRequest):
                requests.append(message)
            stopped = [m.instance_id for m in seen if m.kind == "stopped"]
            if stopped and any(m.model_id in stopped and m.replicas == 0 and not m.prepare for m in requests):
                break  # the stop request and the stopped event, on two topics, in either order
    finally:
        consumer.close()
        for component in reversed(components):
            component.stop()
    assert [m.kind for m in seen] == ["started", "stopped"], seen
    started = seen[0]
    assert started.url == f"http://127.0.0.1:8080/apps/{started.instance_id}/"
    assert abs(started.at.timestamp() - start.timestamp()) < 1.0
    runs = [(m.replicas, m.prepare) for m in requests if m.model_id == started.instance_id]
    assert (1, False) in runs and (0, False) in runs


def test_concurrent_overlapping_bookings_on_postgresql_let_exactly_one_win(
    platform: tuple[Backends, FlaskClient, dict[str, str]],
) -> None:
    _backends, client, tokens = platform
    start, statuses = soon(3600), []

    def attempt(who: str) -> None:
        body = once(tokens["app"], start, timedelta(hours=1))
        statuses.append(client.post("/api/v1/bookings", json=body, headers=bearer(tokens[who])).status_code)

    threads = [threading.Thread(target=attempt, args=(who,)) for who in ("eve", "bob", "eve", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409, 409, 409]
