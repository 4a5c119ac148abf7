"""The heartbeat service on the embedded bus: stale replicas are fenced, dead ones handed to the deployer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from canopy.bus.base import Record
from canopy.bus.typed import Subscriber
from canopy.contracts import Envelope, Heartbeat, Message, topics
from canopy.contracts.deploy import DeployRequest, NodeCommand, WorkloadStatus
from canopy.deployments.tables import Deployment, Replica
from canopy.runtime.backends import Backends
from canopy.workloads.commands import load_or_create_signing_key, load_verify_key, sign, signature_valid
from services.heartbeat.healer import Healer
from services.heartbeat.settings import HealSettings
from services.heartbeat.watch import Watcher
from tests.deploy_helpers import enrolled_key
from tests.manual_clock import ManualClock
from tests.node_reports import idle_status

RECORD = Record(topic=topics.NODE_STATUS, partition=0, offset=0, key=None, value=b"", timestamp_ms=0)


def _report(backends: Backends, node_id: str, *workloads: WorkloadStatus) -> Envelope:
    """A status report of `node_id` listing `workloads`, signed with the node's key."""
    status = idle_status(node_id, datetime.now(UTC), workloads, max_workloads=8)
    return Envelope("id", datetime.now(UTC), sign(status, enrolled_key(backends, node_id)))


def _published(backends: Backends, topic: str) -> list[Message]:
    """Every message on a topic so far."""
    found: list[Message] = []
    reader = Subscriber(
        backends.bus, f"t-{uuid.uuid4().hex[:8]}", [topic], lambda e, _r: found.append(e.message)
    )
    while reader.run_once(0.3):
        pass
    reader.close()
    return found


def _platform(backends: Backends) -> tuple[Watcher, Healer, ManualClock]:
    """A watcher and healer on the configured timeouts with a fake clock, and model m1 at generation 2."""
    clock = ManualClock(100.0)
    settings = HealSettings.from_config(backends.config)
    healer = Healer(backends, settings, clock)
    key = load_or_create_signing_key(backends.config.home)
    with backends.store.session() as session:
        session.add(Deployment(model_id="m1", generation=2, desired_replicas=1, status="ready"))
        session.add(
            Replica(workload_id="w-new", model_id="m1", generation=2, node_id="node-b", state="ready")
        )
    return Watcher(backends, settings, key, healer, clock), healer, clock


def test_a_node_reporting_a_replica_it_no_longer_holds_is_ordered_to_stop_it(backends: Backends) -> None:
    watcher, _, _ = _platform(backends)
    stale = WorkloadStatus(
        workload_id="w-old", model_id="m1", generation=1, state="ready", endpoint="http://x"
    )
    watcher.on_status(_report(backends, "node-a", stale), RECORD)
    watcher.on_status(_report(backends, "node-a", stale), RECORD)  # not repeated within FENCE_REPEAT
    moved = WorkloadStatus(workload_id="w-new", model_id="m1", generation=2, state="ready")
    watcher.on_status(_report(backends, "node-a", moved), RECORD)  # registered, but on node-b
    commands = [c for c in _published(backends, topics.NODE_COMMANDS) if isinstance(c, NodeCommand)]
    assert [(c.node_id, c.action, c.workload_id, c.generation) for c in commands] == [
        ("node-a", "stop", "w-old", 2),  # the current generation: the agent's ledger cannot call it stale
        ("node-a", "stop", "w-new", 2),
    ]
    assert all(signature_valid(c, load_verify_key(backends.config.home)) for c in commands)


def test_a_forged_report_is_ignored(backends: Backends) -> None:
    watcher, _, _ = _platform(backends)
    stale = WorkloadStatus(workload_id="w-old", model_id="m1", generation=1, state="ready")
    signed = _report(backends, "node-a", stale)
    forged = signed.message.model_copy(update={"cpu_percent": 99.0})  # altered after signing
    watcher.on_status(Envelope("id", signed.sent_at, forged), RECORD)
    assert _published(backends, topics.NODE_COMMANDS) == []


def test_an_exited_replica_is_replaced_once_both_signals_agree(backends: Backends) -> None:
    watcher, healer, clock = _platform(backends)
    alive = WorkloadStatus(workload_id="w-new", model_id="m1", generation=2, state="ready")
    watcher.on_status(_report(backends, "node-b", alive), RECORD)
    clock.now += 0.5
    dead = alive.model_copy(update={"state": "failed", "process": "exited", "probe_ok": False})
    watcher.on_status(_report(backends, "node-b", dead), RECORD)
    watcher.tick()
    healer.tick()
    assert _published(backends, topics.DEPLOY_REQUESTS) == []  # exited, but silent only 0.5 s
    clock.now += 1.0
    watcher.tick()
    healer.tick()
    watcher.on_status(_report(backends, "node-b", dead), RECORD)  # still reported: not handed over twice
    clock.now += 5.0
    watcher.tick()
    healer.tick()
    requests = [r for r in _published(backends, topics.DEPLOY_REQUESTS) if isinstance(r, DeployRequest)]
    assert [(r.model_id, r.generation, r.replace, r.give_up) for r in requests] == [("m1", 2, ["w-new"], "")]


def test_a_service_missing_its_heartbeats_is_reported_once(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    watcher, _, clock = _platform(backends)
    beat = Heartbeat(
        service="scheduler", instance="scheduler@h:1", seq=0, interval=2.0, started_at=datetime.now(UTC)
    )
    watcher.on_heartbeat(Envelope("id", datetime.now(UTC), beat), RECORD)
    clock.now += 5.9  # under CANOPY_HEAL_SERVICE_TIMEOUT (3) intervals of 2 s
    watcher.tick()
    assert "sent no heartbeat" not in caplog.text
    clock.now += 0.2
    watcher.tick()
    watcher.tick()
    assert caplog.text.count("service scheduler (instance scheduler@h:1) sent no heartbeat for 6.1 s") == 1
    watcher.on_heartbeat(Envelope("id", datetime.now(UTC), beat), RECORD)
    assert "scheduler@h:1 beats again" in caplog.text
