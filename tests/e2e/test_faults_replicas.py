"""Fault injection on replicas (PostgreSQL, process runtime): crashed and hung replicas come back."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from tests.deploy_helpers import failing_hook_package, port_of, wait_for
from tests.e2e.faults import FaultPlatform, fault_platform, kill, predicts, spare_port


@pytest.fixture(scope="module")
def platform(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultPlatform]:
    """The fault platform with one agent."""
    with fault_platform(tmp_path_factory.mktemp("faults"), postgres_url) as platform:
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
    spare = wait_for(lambda: spare_port(platform, model_id, old), 60, f"the spare of {model_id} to listen")
    kill(platform.agents["a"], old, fault)
    healed = wait_for(
        lambda: _replaced(platform, model_id, old), 60, f"{model_id} to serve again after {fault.name}"
    )
    assert healed["generation"] == view["generation"]  # healed in place: no new desired state was invented
    assert [r["state"] for r in healed["replicas"]] == ["ready"]
    assert not predicts(old)  # the frozen or dead replica is stopped, not left serving beside the new one
    assert port_of(healed["endpoints"][0]) == spare  # the spare was handed over, not a cold start
    messages = [e["message"] for e in healed["events"]]
    assert any(m.startswith("replacing ") for m in messages), messages


def test_a_replica_crashing_at_start_is_retried_with_backoff_then_failed_with_an_alert(
    platform: FaultPlatform,
) -> None:
    model_id, first = platform.deploy_iris(package=failing_hook_package())
    assert first["status"] == "failed", first

    def given_up() -> dict[str, Any] | None:
        view = platform.view(model_id)
        return view if view["status"] == "failed" and "gave up healing" in view["message"] else None

    view = wait_for(given_up, 120, f"the heartbeat service to give up on {model_id}")
    assert view["generation"] == first["generation"] and view["replicas"] == [] and view["endpoints"] == []
    assert "exited while starting" in view["message"]
    assert all("the hook exploded at load" in "\n".join(e["logs"]) for e in view["events"] if e["logs"])
    starts = [datetime.fromisoformat(e["at"]) for e in view["events"] if e["message"].startswith("starting ")]
    assert len(starts) == 1 + 3  # the first start and CANOPY_HEAL_RESTARTS restarts, no more
    pauses = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    # backed off rather than retried at once: the last pause holds the 1 s backoff, give or take the
    # few milliseconds between the deployer stamping a start and the heartbeat service timing its pause
    assert pauses[-1] >= 0.9, pauses
    alerts = [n for n in platform.notifications() if n.instance_id == model_id]
    assert len(alerts) == 1, alerts
    assert alerts[0].to == "ops@example.com" and "no longer restarted" in alerts[0].subject
    assert "CANOPY_HEAL_RESTARTS" in alerts[0].body
    time.sleep(3)  # it stays given up: no further start
    assert platform.view(model_id)["events"][-1]["id"] == view["events"][-1]["id"]


@contextmanager
def saturated_cpu(seconds: float) -> Iterator[None]:
    """Busy-loop processes on every core for `seconds` (or until the block ends)."""
    burn = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_500_ms_of_jitter_in_the_agent_reports_on_a_saturated_cpu_restarts_nothing(
    platform: FaultPlatform,
) -> None:
    model_id, view = platform.deploy_iris()
    assert view["status"] == "ready", view
    [endpoint] = view["endpoints"]
    agent, rng, answered = platform.agents["a"], random.Random(11), 0
    with saturated_cpu(30):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            agent.send_signal(signal.SIGSTOP)  # the agent, hence its reports, stalls up to 500 ms
            time.sleep(rng.uniform(0.0, 0.5))
            agent.send_signal(signal.SIGCONT)
            time.sleep(rng.uniform(0.1, 0.5))
            answered += predicts(endpoint)
    after = platform.view(model_id)
    assert after["endpoints"] == [endpoint] and after["status"] == "ready"
    assert not [e for e in after["events"] if e["message"].startswith("replacing ")], after["events"]
    assert answered > 0 and predicts(endpoint)
