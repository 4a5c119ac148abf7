"""Node status reports judged and recorded with Core statements, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from canopy.config import load_config
from canopy.contracts import Envelope
from canopy.contracts.deploy import WorkloadStatus
from canopy.deployments.tables import Node, Replica
from canopy.ed25519 import Ed25519PrivateKey
from canopy.nodes.enrolment import remove_node
from canopy.runtime.backends import Backends, open_backends
from canopy.workloads.commands import load_or_create_signing_key, sign
from services.heartbeat.healer import Healer
from services.heartbeat.settings import HealSettings
from services.heartbeat.watch import Watcher
from services.node_manager.service import NodeManager
from tests.deploy_helpers import enrolled_key
from tests.functional.test_heartbeat_service import RECORD
from tests.manual_clock import ManualClock
from tests.node_reports import idle_status

READY = WorkloadStatus(workload_id="w-1", model_id="m1", generation=1, state="ready", endpoint="http://x")


@pytest.fixture()
def backends(store_url: str, canopy_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backends]:
    """The embedded bus with the store on the database under test."""
    monkeypatch.setenv("CANOPY_DB_URL", store_url)
    opened = open_backends(load_config())
    yield opened
    opened.close()


def _report(key: Ed25519PrivateKey, at: datetime, cpu: float, *workloads: WorkloadStatus) -> Envelope:
    """A report of node edge-1 at `at` with `cpu` percent busy, signed with `key`."""
    status = idle_status("edge-1", at, workloads).model_copy(update={"cpu_percent": cpu})
    return Envelope("id", at, sign(status, key))


def _row(backends: Backends) -> dict[str, Any] | None:
    """Node edge-1's row as the store holds it, or None."""
    with backends.store.session() as session:
        node = session.get(Node, "edge-1")
        return None if node is None else {c.name: getattr(node, c.name) for c in Node.__table__.columns}


def test_a_report_adds_its_node_a_newer_one_updates_it_and_an_older_one_changes_nothing(
    backends: Backends,
) -> None:
    key, manager, now = enrolled_key(backends, "edge-1"), NodeManager(backends), datetime.now(UTC)
    manager.on_status(_report(key, now - timedelta(seconds=5), 10.0), RECORD)
    assert _row(backends) == {
        "node_id": "edge-1",
        "runtime": "process",
        "labels": "{}",
        "cpu_percent": 10.0,
        "memory_percent": 1.0,
        "cpu_count": 2.0,
        "memory_mb": 1024,
        "max_workloads": 4,
        "workloads": "[]",
        "last_seen": now - timedelta(seconds=5),
    }
    manager.on_status(_report(key, now, 20.0, READY), RECORD)
    updated = _row(backends)
    assert updated is not None and (updated["cpu_percent"], updated["last_seen"]) == (20.0, now)
    assert '"workload_id": "w-1"' in updated["workloads"]
    manager.on_status(_report(key, now - timedelta(seconds=2), 30.0), RECORD)  # older, arriving late
    assert _row(backends) == updated


def test_a_removed_node_is_refused_at_its_very_next_report(
    backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    key, manager, now = enrolled_key(backends, "edge-1"), NodeManager(backends), datetime.now(UTC)
    settings = HealSettings.from_config(backends.config)
    clock = ManualClock(100.0)
    watcher = Watcher(
        backends,
        settings,
        load_or_create_signing_key(backends.config.home),
        Healer(backends, settings, clock),
        clock,
    )
    with backends.store.session() as session:
        session.add(Replica(workload_id="w-1", model_id="m1", generation=1, node_id="edge-1", state="ready"))
    first = _report(key, now - timedelta(seconds=1), 10.0, READY)
    manager.on_status(first, RECORD)
    watcher.on_status(first, RECORD)
    assert watcher.nodes.subjects() == ["edge-1"] and list(watcher.watched) == ["w-1"]
    with backends.store.session() as session:
        remove_node(session, "edge-1")
    clock.now += 50  # the refused report must not count as the node being alive
    caplog.set_level(logging.WARNING)
    after = _report(key, now, 20.0, READY)
    manager.on_status(after, RECORD)
    watcher.on_status(after, RECORD)
    row = _row(backends)
    assert row is not None and row["last_seen"] == now - timedelta(seconds=1)
    assert "refused a status report of node edge-1: node edge-1 has not joined the platform" in caplog.text
    assert watcher.nodes.silent_for("edge-1", clock.now) == 50
