"""Fault injection on replicas (PostgreSQL, process runtime): crashed and hung replicas come back."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.deploy_helpers import wait_for
from tests.e2e.faults import FaultPlatform, fault_platform, kill, predicts


@pytest.fixture(scope="module")
def platform(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPlatform]:
    """The fault platform with one agent."""
    with fault_platform(postgres_url, tmp_path_factory.mktemp("faults")) as platform:
        platform.start_agent("a")
        yield platform


def _replaced(platform: FaultPlatform, model_id: str, old: str) -> dict[str, object] | None:
    """The deployment view once a ready replica other than `old` serves and `old` is gone."""
    view = platform.view(model_id)
    endpoints = view["endpoints"]
    fresh = len(endpoints) == 1 and endpoints[0] != old and view["status"] == "ready"
    return view if fresh and predicts(endpoints[0]) else None


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["sigkill", "sigstop"])
def test_a_killed_or_frozen_replica_is_replaced_and_serves_again(
    platform: FaultPlatform, fault: signal.Signals
) -> None:
    model_id, view = platform.deploy_iris()
    assert view["status"] == "ready", view
    old = view["endpoints"][0]
    answered = [predicts(old) for _ in range(5)]
    assert all(answered)
    kill(platform.agents["a"], old, fault)
    healed = wait_for(
        lambda: _replaced(platform, model_id, old), 60, f"{model_id} to serve again after {fault.name}"
    )
    assert healed["generation"] == view["generation"]  # healed in place: no new desired state was invented
    assert [r["state"] for r in healed["replicas"]] == ["ready"]
    assert not predicts(old)  # the frozen or dead replica is stopped, not left serving beside the new one
    messages = [e["message"] for e in healed["events"]]
    assert any(m.startswith("replacing ") for m in messages), messages
