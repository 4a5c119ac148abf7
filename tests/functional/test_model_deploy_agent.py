"""The node agent executes signed, fresh commands for its node once, and refuses every other one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from canopy.bus.base import Record
from canopy.bus.typed import Subscriber
from canopy.contracts import Envelope, Message, topics
from canopy.contracts.deploy import NodeCommand, NodeStatus, WorkloadSpec
from canopy.runtime.backends import Backends
from canopy.workloads.commands import load_or_create_signing_key, sign
from canopy.workloads.runtime import MODEL_PROBE, Adopted, Probe, Readiness, Runtime
from services.node_agent.agent import AgentSettings, NodeAgent
from services.node_agent.service import StatusReporter
from tests.deploy_helpers import enrolled_key, wait_for
from tests.manual_clock import ManualClock

SPEC = WorkloadSpec(model_id="m1", runtime="process")
RECORD = Record(topic="canopy.node-commands", partition=0, offset=0, key=None, value=b"", timestamp_ms=0)


class FakeRuntime(Runtime):
    """Records starts and stops; every workload is instantly ready."""

    name = "process"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []

    def start(self, workload_id: str, spec: WorkloadSpec, generation: int) -> str:
        """Record the start."""
        self.started.append(workload_id)
        return "http://127.0.0.1:9"

    def stop(self, workload_id: str) -> None:
        """Record the stop."""
        self.stopped.append(workload_id)

    def running(self, workload_id: str) -> bool:
        """Started and not stopped."""
        return workload_id in self.started and workload_id not in self.stopped

    def logs(self, workload_id: str, lines: int = 20) -> list[str]:
        """No logs."""
        return []

    def workloads(self) -> list[str]:
        """Started workloads."""
        return self.started

    def wait_ready(
        self, workload_id: str, endpoint: str, timeout: float = 60.0, probe: Probe = MODEL_PROBE
    ) -> Readiness:
        """Ready at once."""
        return Readiness(True, "ready", [])


def _command(home: Path, *, signed: bool = True, **changes: object) -> Envelope:
    """A start of w1 (generation 2) for node-a, signed unless told otherwise."""
    now = datetime.now(UTC)
    fields: dict[str, object] = {
        "cmd_id": f"c{time.monotonic_ns()}",
        "node_id": "node-a",
        "action": "start",
        "model_id": "m1",
        "workload_id": "w1",
        "generation": 2,
        "issued_at": now,
        "expires_at": now + timedelta(seconds=60),
        "spec": SPEC,
    }
    fields.update(changes)
    command = NodeCommand.model_validate(fields)
    if signed:
        command = sign(command, load_or_create_signing_key(home))
    return Envelope("id", now, command)


def test_the_agent_runs_only_valid_commands_once(backends: Backends, canopy_home: Path) -> None:
    runtime = FakeRuntime()
    agent = NodeAgent(
        backends.bus, runtime, AgentSettings("node-a", canopy_home, enrolled_key(backends, "node-a"))
    )
    past = datetime.now(UTC) - timedelta(minutes=5)
    for refused in (
        _command(canopy_home, node_id="node-b"),
        _command(canopy_home, signed=False),
        _command(canopy_home, issued_at=past, expires_at=past + timedelta(seconds=60)),
    ):
        agent.on_command(refused, RECORD)
    valid = _command(canopy_home)
    agent.on_command(valid, RECORD)
    agent.on_command(valid, RECORD)  # redelivered: refused as already executed
    wait_for(lambda: runtime.started == ["w1"], 5, "the valid start")
    agent.on_command(_command(canopy_home, generation=1, action="stop"), RECORD)  # stale generation
    agent.on_command(_command(canopy_home, generation=3, action="stop"), RECORD)
    wait_for(lambda: runtime.stopped == ["w1"], 5, "the stop")
    time.sleep(0.3)
    assert runtime.started == ["w1"] and runtime.stopped == ["w1"]
    restarted = NodeAgent(
        backends.bus, runtime, AgentSettings("node-a", canopy_home, enrolled_key(backends, "node-a"))
    )
    restarted.on_command(_command(canopy_home, generation=2), RECORD)  # the ledger survived the restart
    time.sleep(0.3)
    assert runtime.started == ["w1"]
    status = agent.status()
    assert status.node_id == "node-a" and status.workloads == []


class KeepingRuntime(FakeRuntime):
    """A runtime whose workloads outlive the agent, like Docker's."""

    keeps_workloads = True

    def adopt(self) -> list[Adopted]:
        """One container kept running while the agent was down."""
        return [Adopted("w9", "m9", 4, "http://127.0.0.1:9")]


def test_restarted_agents_adopt_kept_workloads_and_stop_processes(
    backends: Backends, canopy_home: Path
) -> None:
    keeping = NodeAgent(
        backends.bus, KeepingRuntime(), AgentSettings("node-k", canopy_home, enrolled_key(backends, "node-k"))
    )
    keeping.adopt()
    assert [(w.workload_id, w.state) for w in keeping.status().workloads] == [("w9", "ready")]
    keeping.shutdown()
    assert keeping.runtime.stopped == []  # type: ignore[attr-defined]
    runtime = FakeRuntime()
    processes = NodeAgent(
        backends.bus, runtime, AgentSettings("node-p", canopy_home, enrolled_key(backends, "node-p"))
    )
    processes.on_command(_command(canopy_home, node_id="node-p"), RECORD)
    wait_for(lambda: processes.status().workloads, 5, "the workload to start")
    processes.shutdown()
    assert runtime.stopped == ["w1"] and processes.status().workloads == []


def test_a_workload_that_dies_is_reported_at_once_not_at_the_next_interval(
    backends: Backends, canopy_home: Path
) -> None:
    runtime = FakeRuntime()
    agent = NodeAgent(
        backends.bus, runtime, AgentSettings("node-a", canopy_home, enrolled_key(backends, "node-a"))
    )
    agent.on_command(_command(canopy_home), RECORD)
    wait_for(lambda: [w.state for w in agent.status().workloads] == ["ready"], 5, "w1 to be ready")
    clock = ManualClock(100.0)
    reporter = StatusReporter(agent, interval=10.0, clock=clock)
    reporter.step()
    clock.now += 1.0
    reporter.step()  # nothing died and the interval has not passed: no report
    runtime.stopped.append("w1")  # the process exits
    clock.now += 0.25
    reporter.step()
    found: list[Message] = []
    reports = Subscriber(
        backends.bus, "t-reports", [topics.NODE_STATUS], lambda e, _r: found.append(e.message)
    )
    while reports.run_once(0.3):
        pass
    reports.close()
    assert [
        [(w.state, w.process) for w in status.workloads] for status in found if isinstance(status, NodeStatus)
    ] == [
        [("ready", "running")],
        [("failed", "exited")],
    ]
