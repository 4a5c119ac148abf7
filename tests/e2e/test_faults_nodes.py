"""Fault injection on nodes (PostgreSQL, process runtime, two agents): a lost node's replicas move."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy_helpers import wait_for
from tests.e2e.faults import FaultPlatform, fault_platform, predicts


@pytest.fixture(scope="module")
def platform(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPlatform]:
    """The fault platform with two agents."""
    with fault_platform(tmp_path_factory.mktemp("faults-nodes"), postgres_url) as platform:
        nodes = {name: platform.start_agent(name) for name in ("a", "b")}

        def both_ready() -> bool:
            listed = platform.call("GET", "/api/v1/nodes")["nodes"]
            return {n["node_id"] for n in listed if n["state"] == "ready"} >= set(nodes.values())

        wait_for(both_ready, 60, "both agents to report")
        yield platform


def test_kill_9_of_an_agent_moves_its_replica_and_the_node_coming_back_serves_nothing_stale(
    platform: FaultPlatform,
) -> None:
    model_id, view = platform.deploy_iris()
    assert view["status"] == "ready", view
    [lost_node], [old] = view["nodes"], view["endpoints"]
    assert predicts(old)
    name = lost_node.rsplit("-", 1)[1]
    platform.agents[name].send_signal(signal.SIGKILL)
    platform.agents[name].wait(timeout=10)

    def elsewhere() -> dict[str, Any] | None:
        now = platform.view(model_id)
        moved = now["nodes"] != [lost_node] and len(now["endpoints"]) == 1 and now["status"] == "ready"
        return now if moved and predicts(now["endpoints"][0]) else None

    moved = wait_for(elsewhere, 60, f"{model_id} to serve off the lost node {lost_node}")
    assert moved["generation"] == view["generation"] and [r["state"] for r in moved["replicas"]] == ["ready"]
    platform.start_agent(name, join=False)

    def back() -> bool:
        listed = platform.call("GET", "/api/v1/nodes")["nodes"]
        return any(n["node_id"] == lost_node and n["state"] == "ready" for n in listed)

    wait_for(back, 60, f"{lost_node} to report again")
    time.sleep(2)
    after = platform.view(model_id)
    assert after["endpoints"] == moved["endpoints"] and after["nodes"] == moved["nodes"]  # never two serving
    nodes = {n["node_id"]: n for n in platform.call("GET", "/api/v1/nodes")["nodes"]}
    assert not [w for w in nodes[lost_node]["workloads"] if w["model_id"] == model_id]
    assert not predicts(old)
