"""The agent's core: execute verified node commands through a runtime and report status."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from canopy.bus import Bus
from canopy.bus.base import Record
from canopy.bus.typed import publish
from canopy.contracts import Envelope
from canopy.contracts.deploy import NodeCommand, NodeStatus, WorkloadEvent, WorkloadState, WorkloadStatus
from canopy.ed25519 import Ed25519PrivateKey
from canopy.workloads.commands import CommandLedger, load_verify_key, refusal, sign, signature_valid
from canopy.workloads.runtime import MODEL_PROBE, Probe, Prober, Runtime, probe_for

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0  # a replica that takes longer to answer /health fails that report's probe


@dataclass
class AgentSettings:
    """Who the node is (its id and the key it joined with) and how it reports itself."""

    node_id: str
    home: Path
    key: Ed25519PrivateKey
    labels: Mapping[str, str] = field(default_factory=dict)
    max_workloads: int = 8
    simulated_load: tuple[float, float] | None = None


@dataclass
class _Workload:
    """What the agent knows of one workload."""

    model_id: str
    generation: int
    state: WorkloadState
    endpoint: str = ""
    probe: Probe = MODEL_PROBE


class NodeAgent:
    """Executes start/stop/restart commands addressed to this node, idempotently, and reports."""

    def __init__(self, bus: Bus, runtime: Runtime, settings: AgentSettings) -> None:
        self.bus = bus
        self.runtime = runtime
        self.settings = settings
        self.ledger_path = settings.home / "agents" / settings.node_id / "ledger.json"
        self.ledger = CommandLedger.load(self.ledger_path)
        self.workloads: dict[str, _Workload] = {}
        self._lock = threading.Lock()
        self._probes = Prober()  # workloads answer on this node: no proxy, no netrc, no env lookups
        psutil.cpu_percent(None)

    def on_command(self, envelope: Envelope, _record: Record) -> None:
        """Verify a node command and run it on a thread; refuse stale, foreign or forged ones."""
        command = envelope.message
        if not isinstance(command, NodeCommand) or command.node_id != self.settings.node_id:
            return
        with self._lock:
            signed = signature_valid(command, load_verify_key(self.settings.home))
            reason = refusal(
                command,
                node_id=self.settings.node_id,
                now=datetime.now(UTC),
                ledger=self.ledger,
                signed=signed,
            )
            if reason is not None:
                log.warning(
                    "node %s refused %s %s: %s", command.node_id, command.action, command.cmd_id, reason
                )
                return
            self.ledger.record(command)
            self.ledger.save(self.ledger_path)
        threading.Thread(
            target=self._execute, args=(command,), name=f"cmd-{command.cmd_id}", daemon=True
        ).start()

    def _execute(self, command: NodeCommand) -> None:
        """Run an accepted command; report any failure with the workload's logs."""
        try:
            if command.action == "purge":
                self.runtime.purge(command.model_id)
                log.info(
                    "node %s dropped the data of app instance %s", self.settings.node_id, command.model_id
                )
            if command.action in ("stop", "restart"):
                self._stop(command)
            if command.action in ("start", "restart"):
                self._start(command)
        except Exception as exc:
            log.exception("command %s failed", command.cmd_id)
            logs = self.runtime.logs(command.workload_id)
            self._event(command.workload_id, command.model_id, command.generation, "failed", str(exc), logs)

    def _start(self, command: NodeCommand) -> None:
        """Start a workload, wait for /health and report ready or failed."""
        if command.spec is None:
            raise ValueError("a start command needs a workload spec")
        workload_id, probe = command.workload_id, probe_for(command.spec)
        self._set(workload_id, _Workload(command.model_id, command.generation, "starting"))
        endpoint = self.runtime.start(workload_id, command.spec, command.generation)
        self._set(workload_id, _Workload(command.model_id, command.generation, "starting", endpoint))
        readiness = self.runtime.wait_ready(workload_id, endpoint, probe=probe)
        if readiness.ready:
            self._set(workload_id, _Workload(command.model_id, command.generation, "ready", endpoint, probe))
            self._event(workload_id, command.model_id, command.generation, "ready", "ready", [], endpoint)
            return
        self.runtime.stop(workload_id)
        self._set(workload_id, _Workload(command.model_id, command.generation, "failed"))
        self._event(
            workload_id, command.model_id, command.generation, "failed", readiness.message, readiness.logs
        )

    def _stop(self, command: NodeCommand) -> None:
        """Stop and forget a workload, and report it stopped (while it stops, it is not taken for dead).

        The report carries the generation the workload was started with, which the deployer's replica
        record holds, not the newer one of the request that stops it.
        """
        generation = command.generation
        with self._lock:
            if (stopping := self.workloads.get(command.workload_id)) is not None:
                stopping.state, generation = "stopped", stopping.generation
        if command.replacing:
            self.runtime.hand_over(command.workload_id)
        else:
            self.runtime.stop(command.workload_id)
        with self._lock:
            self.workloads.pop(command.workload_id, None)
        self._event(command.workload_id, command.model_id, generation, "stopped", "stopped", [])

    def _set(self, workload_id: str, workload: _Workload) -> None:
        """Record a workload's state."""
        with self._lock:
            self.workloads[workload_id] = workload

    def _event(
        self,
        workload_id: str,
        model_id: str,
        generation: int,
        state: WorkloadState,
        message: str,
        logs: list[str],
        endpoint: str = "",
    ) -> None:
        """Publish a workload event signed with the node's key."""
        event = WorkloadEvent(
            node_id=self.settings.node_id,
            workload_id=workload_id,
            model_id=model_id,
            generation=generation,
            state=state,
            endpoint=endpoint,
            message=message,
            logs=logs,
        )
        publish(self.bus, sign(event, self.settings.key), key=model_id)
        self.bus.flush()

    def adopt(self) -> None:
        """Take over workloads that kept running while the agent was down (docker containers)."""
        for found in self.runtime.adopt():
            # what an adopted workload serves is not known: its process state alone tells its health
            adopted = _Workload(found.model_id, found.generation, "ready", found.endpoint, Probe("", False))
            self._set(found.workload_id, adopted)

    def shutdown(self) -> None:
        """Stop workloads that cannot outlive the agent (processes), saying so, then release the runtime."""
        if not self.runtime.keeps_workloads:
            with self._lock:
                current = list(self.workloads.items())
                self.workloads.clear()
            for workload_id, workload in current:
                self.runtime.stop(workload_id)
                self._event(
                    workload_id, workload.model_id, workload.generation, "stopped", "agent stopped", []
                )
        self.runtime.close()

    def check_workloads(self) -> bool:
        """Report ready workloads whose process or container has died as failed; whether any had."""
        with self._lock:
            ready = [(wid, w) for wid, w in self.workloads.items() if w.state == "ready"]
        died = [(wid, w) for wid, w in ready if not self.runtime.running(wid)]
        for workload_id, workload in died:
            logs = self.runtime.logs(workload_id)
            self._set(workload_id, _Workload(workload.model_id, workload.generation, "failed"))
            died_as = (workload_id, workload.model_id, workload.generation)
            self._event(*died_as, "failed", "the workload died", logs)
        return bool(died)

    def status(self) -> NodeStatus:
        """The node's load, size, labels and workloads right now, signed with the node's key."""
        memory = psutil.virtual_memory()
        cpu, mem = psutil.cpu_percent(None), memory.percent
        if self.settings.simulated_load is not None:
            cpu, mem = self.settings.simulated_load
        with self._lock:
            current = list(self.workloads.items())
        workloads = [self._workload_status(wid, w) for wid, w in current]
        status = NodeStatus(
            node_id=self.settings.node_id,
            runtime="docker" if self.runtime.name == "docker" else "process",
            labels=dict(self.settings.labels),
            cpu_percent=cpu,
            memory_percent=mem,
            cpu_count=float(psutil.cpu_count() or 1),
            memory_mb=int(memory.total // (1024 * 1024)),
            max_workloads=self.settings.max_workloads,
            workloads=workloads,
            at=datetime.now(UTC),
        )
        return sign(status, self.settings.key)

    def _workload_status(self, workload_id: str, workload: _Workload) -> WorkloadStatus:
        """One workload's state, with its process as the runtime sees it and, when ready, a probe of it."""
        process = self.runtime.process_state(workload_id)
        probed = workload.state == "ready" and process == "running"
        return WorkloadStatus(
            workload_id=workload_id,
            model_id=workload.model_id,
            generation=workload.generation,
            state=workload.state,
            endpoint=workload.endpoint,
            process=process,
            probe_ok=probed and self._probes.answers(workload.endpoint, workload.probe, PROBE_TIMEOUT),
        )

    def report(self) -> None:
        """Publish the node status."""
        publish(self.bus, self.status(), key=self.settings.node_id)
        self.bus.flush()
