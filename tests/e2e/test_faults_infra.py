"""Fault injection on the infrastructure: the Kafka broker frozen for 10 s, then a PostgreSQL restart.

Each runs on a private broker or database (never the shared ones), with the process runtime.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from canopy.bus.base import Record
from canopy.contracts import Envelope, topics
from canopy.contracts.devices import TelemetryReading
from tests.deploy_helpers import wait_for
from tests.e2e.faults import FaultPlatform, fault_platform, iris_zip, predicts, server_process
from tests.private_infra import PrivateKafka, PrivatePostgres, private_kafka, private_postgres

OUTAGE = 10.0
API_BOUND = 15.0  # seconds an API call may take while the database restarts


def _ready_node(platform: FaultPlatform, home: Path) -> str:
    """Start the agent `a` and wait until the node registry lists it as ready."""
    node_id = platform.start_agent("a")

    def ready() -> bool:
        return any(
            n["node_id"] == node_id and n["state"] == "ready"
            for n in platform.call("GET", "/api/v1/nodes")["nodes"]
        )

    wait_for(ready, 60, f"the agent to report (see {home / 'agent-a.log'})")
    return node_id


@pytest.fixture
def on_kafka(postgres_url: str, tmp_path: Path) -> Iterator[tuple[FaultPlatform, PrivateKafka]]:
    """The fault platform on a private Kafka broker, with one agent."""
    with (
        private_kafka(tmp_path / "kafka") as kafka,
        fault_platform(tmp_path / "home", postgres_url, bus=kafka.environment()) as platform,
    ):
        _ready_node(platform, tmp_path / "home")
        yield platform, kafka


@pytest.fixture
def on_private_postgres(tmp_path: Path) -> Iterator[tuple[FaultPlatform, PrivatePostgres]]:
    """The fault platform on a private PostgreSQL (and the embedded bus), with one agent."""
    with private_postgres() as database, fault_platform(tmp_path, database.url) as platform:
        _ready_node(platform, tmp_path)
        yield platform, database


def _last_report(platform: FaultPlatform) -> datetime:
    """When the only node last reported, as the node registry recorded it."""
    [node] = platform.call("GET", "/api/v1/nodes")["nodes"]
    return datetime.fromisoformat(node["last_seen"])


def _serving(platform: FaultPlatform) -> tuple[str, str, int]:
    """Deploy the iris model with one replica: its id, its endpoint and its model server's pid."""
    model_id, view = platform.deploy_iris()
    assert view["status"] == "ready", view
    [endpoint] = view["endpoints"]
    return model_id, endpoint, server_process(platform.agents["a"], endpoint).pid


def _no_healing(view: dict[str, Any]) -> None:
    """No replica of the deployment was replaced."""
    replaced = [e["message"] for e in view["events"] if e["message"].startswith("replacing ")]
    assert not replaced, replaced


def _scaled_beside(platform: FaultPlatform, model_id: str, generation: int, endpoint: str) -> None:
    """Generation `generation` serves two replicas, one of them still the untouched `endpoint`."""
    view = platform.settle(model_id, generation, timeout=120)
    assert view["status"] == "ready" and len(view["endpoints"]) == 2, view
    assert endpoint in view["endpoints"], view
    assert all(predicts(e) for e in view["endpoints"])
    _no_healing(view)


def test_the_kafka_broker_frozen_for_10_s_loses_nothing_acknowledged_and_restarts_nothing(
    on_kafka: tuple[FaultPlatform, PrivateKafka],
) -> None:
    platform, kafka = on_kafka
    model_id, endpoint, server = _serving(platform)
    scale = f"{platform.api}/api/v1/models/{model_id}/scale"
    auth = {"Authorization": f"Bearer {platform.token}"}
    device_id, credential = platform.add_device()
    readings = f"{platform.api}/api/v1/devices/{device_id}/telemetry"

    def send(seq: int) -> requests.Response:
        """A reading of the device, sent with its own credential."""
        reading = {"reading": {"temperature": 20 + seq}, "seq": seq}
        return requests.post(
            readings, json=reading, headers={"Authorization": f"Bearer {credential}"}, timeout=90
        )

    assert send(0).status_code == 202
    with ThreadPoolExecutor(2) as pool:
        os.kill(kafka.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            # asked while the bus is down: answered 202 only once Kafka has the request or reading
            asked = pool.submit(requests.post, scale, json={"replicas": 2}, headers=auth, timeout=90)
            sent = pool.submit(lambda: [send(seq) for seq in range(1, 4)])
            answered = []
            while time.monotonic() - frozen_at < OUTAGE:
                answered.append(predicts(endpoint))  # the data plane needs no bus
                time.sleep(0.5)
        finally:
            os.kill(kafka.pid, signal.SIGCONT)
        thawed_at = datetime.now().astimezone()
        reply, replies = asked.result(timeout=90), sent.result(timeout=90)
    assert answered.count(True) == len(answered) >= 5, answered
    assert reply.status_code == 202, reply.text
    assert [r.status_code for r in replies] == [202] * 3, [r.text for r in replies]
    acknowledged: set[int | None] = {0, 1, 2, 3}
    streamed: set[int | None] = set()

    def keep(envelope: Envelope, _record: Record) -> bool:
        reading = envelope.message
        if isinstance(reading, TelemetryReading) and reading.device_id == device_id:
            streamed.add(reading.seq)
        return acknowledged <= streamed

    assert platform.read(topics.DEVICE_TELEMETRY, keep, 30), (
        f"acknowledged {acknowledged}, streamed {streamed}"
    )
    _scaled_beside(platform, model_id, reply.json()["generation"], endpoint)  # acknowledged, so carried out
    assert server_process(platform.agents["a"], endpoint).pid == server  # never restarted
    wait_for(lambda: _last_report(platform) > thawed_at, 30, "the node's reports to resume")
    time.sleep(3)  # late verdicts on the silence would come now
    _no_healing(platform.view(model_id))
    assert platform.agents["a"].poll() is None


def test_a_postgresql_restart_fails_calls_cleanly_keeps_every_write_and_heals_nothing(
    on_private_postgres: tuple[FaultPlatform, PrivatePostgres],
) -> None:
    platform, database = on_private_postgres
    model_id, endpoint, server = _serving(platform)
    kept = platform.call("POST", "/api/v1/models", files={"file": ("p.zip", iris_zip())})["id"]
    # acknowledged just before the restart: the deployer carries it out across it
    scaled = platform.call("POST", f"/api/v1/models/{model_id}/scale", json={"replicas": 2})["generation"]

    def restart() -> None:
        database.stop()
        time.sleep(3)
        database.start()

    restarting = threading.Thread(target=restart)
    restarting.start()
    answered, refusals, uploads = [], [], []
    auth = {"Authorization": f"Bearer {platform.token}"}
    while restarting.is_alive():
        answered.append(predicts(endpoint))
        started = time.monotonic()
        reply = requests.get(f"{platform.api}/api/v1/models/{model_id}/deployment", headers=auth, timeout=30)
        assert time.monotonic() - started < API_BOUND
        if reply.status_code != 200:
            refusals.append(reply)
        if refusals and not uploads:
            upload = {"file": ("p.zip", iris_zip())}
            models = f"{platform.api}/api/v1/models"
            uploads.append(requests.post(models, files=upload, headers=auth, timeout=30))
        time.sleep(0.3)
    restarting.join()
    restarted_at = datetime.now().astimezone()
    assert answered and all(answered), answered  # the replica served throughout
    assert refusals, "no API call noticed the restart"
    for refused in refusals:  # a clear, retryable refusal, never a traceback
        assert refused.status_code == 503, refused.text
        assert "PostgreSQL" in refused.json()["error"]["message"], refused.text
    [upload] = uploads
    assert upload.status_code in (201, 503), upload.text
    _scaled_beside(platform, model_id, scaled, endpoint)
    assert server_process(platform.agents["a"], endpoint).pid == server  # never restarted
    listed = {m["id"] for m in platform.call("GET", "/api/v1/models")["models"]}
    assert kept in listed and model_id in listed  # acknowledged before the restart
    if upload.status_code == 201:
        assert upload.json()["id"] in listed  # acknowledged during it
    wait_for(lambda: _last_report(platform) > restarted_at, 30, "the node manager to record reports again")
    generation = platform.call("POST", f"/api/v1/models/{model_id}/scale", json={"replicas": 1})["generation"]
    view = platform.settle(model_id, generation, timeout=60)  # asked after the restart, on the same pools
    assert view["status"] == "ready" and len(view["endpoints"]) == 1, view
    assert predicts(view["endpoints"][0])
    _no_healing(platform.view(model_id))
