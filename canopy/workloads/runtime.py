"""The interface every workload runtime implements, and readiness probing shared by them."""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from platform_sdk._http import ConnectionPool, HttpFailure

from canopy.contracts.deploy import ProcessState, WorkloadSpec

READY_TIMEOUT_SECONDS = 60.0
PROBED_ENDPOINTS = 64  # keep-alive connections kept to this many endpoints (a node's replicas and a few more)
PROBE_INTERVAL = 0.02  # between readiness probes: a refused connection costs well under a millisecond
LIVENESS_INTERVAL = 0.25  # between checks that the workload still runs (a docker API call)
APP_SETTLE_SECONDS = 2.0  # an app without a page is ready once it has run this long


@dataclass(frozen=True)
class Probe:
    """How readiness is told: GET `path` (any answer, or /health's {"status": "ready"}), or time alive."""

    path: str = "/health"
    health: bool = True
    settle: float = 0.0


MODEL_PROBE = Probe()


def probe_for(spec: WorkloadSpec) -> Probe:
    """A model is ready when /health says so; an app when its page answers, or after 2 s without a page."""
    if spec.kind == "model":
        return MODEL_PROBE
    if spec.page_port:
        return Probe("/", health=False)
    return Probe("", health=False, settle=APP_SETTLE_SECONDS)


class Prober:
    """Probes workloads over keep-alive connections on the standard library, one per recent endpoint."""

    def __init__(self, endpoints: int = PROBED_ENDPOINTS) -> None:
        self._pools: dict[str, ConnectionPool] = {}
        self._endpoints = endpoints
        self._lock = threading.Lock()

    def answers(self, endpoint: str, probe: Probe, timeout: float = 2.0) -> bool:
        """Whether the endpoint passes the probe's HTTP check once (True when the probe makes none)."""
        if not probe.path:
            return True
        try:
            response = self._pool(endpoint).request("GET", probe.path, timeout=timeout)
            if not probe.health:
                return True
            answer = json.loads(response.body) if response.status == 200 else None
            return isinstance(answer, dict) and answer.get("status") == "ready"
        except (HttpFailure, ValueError):
            return False

    def _pool(self, endpoint: str) -> ConnectionPool:
        """The endpoint's pool of one connection; the least recently used endpoint's goes past the limit."""
        with self._lock:
            pool = self._pools.pop(endpoint, None) or ConnectionPool(endpoint, size=1)
            self._pools[endpoint] = pool
            oldest = next(iter(self._pools)) if len(self._pools) > self._endpoints else None
            if oldest is not None:
                self._pools.pop(oldest).close()
        return pool


@dataclass(frozen=True)
class Readiness:
    """The outcome of waiting for a workload's /health."""

    ready: bool
    message: str
    logs: list[str]


@dataclass(frozen=True)
class Adopted:
    """A running workload found when the agent starts."""

    workload_id: str
    model_id: str
    generation: int
    endpoint: str


def tail(data: bytes, lines: int) -> list[str]:
    """The last `lines` lines of a log, decoded leniently."""
    return data.decode("utf-8", "replace").splitlines()[-lines:]


class Runtime(ABC):
    """Starts, stops and inspects workloads on one node."""

    name = "runtime"

    @abstractmethod
    def start(self, workload_id: str, spec: WorkloadSpec, generation: int) -> str:
        """Start a workload (idempotent); return its endpoint URL."""

    @abstractmethod
    def stop(self, workload_id: str) -> None:
        """Stop and remove a workload (idempotent)."""

    @abstractmethod
    def running(self, workload_id: str) -> bool:
        """Whether the workload is running."""

    @abstractmethod
    def logs(self, workload_id: str, lines: int = 20) -> list[str]:
        """The workload's last log lines."""

    @abstractmethod
    def workloads(self) -> list[str]:
        """The ids of the workloads this runtime holds."""

    def hand_over(self, workload_id: str) -> None:
        """Stop a replica that is being replaced (a runtime with warm spares keeps the model's a while)."""
        self.stop(workload_id)

    keeps_workloads = False
    watch_seconds = 0.25  # how often the agent asks whether its ready workloads still run

    def process_state(self, workload_id: str) -> ProcessState:
        """running, exited, or stopped (frozen by SIGSTOP); runtimes that cannot tell stopped say running."""
        return "running" if self.running(workload_id) else "exited"

    def adopt(self) -> list[Adopted]:
        """Workloads still running from before the agent (re)started; runtimes that keep them say so."""
        return []

    def purge(self, instance_id: str) -> None:
        """Drop the data a deleted app instance left on this node (runtimes without databases: none)."""
        return None

    def close(self) -> None:
        """Release resources when the agent stops (workloads may keep running)."""
        return None

    def wait_ready(
        self,
        workload_id: str,
        endpoint: str,
        timeout: float = READY_TIMEOUT_SECONDS,
        probe: Probe = MODEL_PROBE,
    ) -> Readiness:
        """Poll the probe until the workload is ready, dies, or the timeout passes; then settle it."""
        readiness = self._poll_ready(workload_id, endpoint, timeout, probe)
        self.settle(workload_id)
        return readiness

    def settle(self, workload_id: str) -> None:
        """End a workload's start (ready or not); a runtime that lets starts use more CPU limits it here."""
        return None

    def _poll_ready(self, workload_id: str, endpoint: str, timeout: float, probe: Probe) -> Readiness:
        """Poll the probe until the workload is ready, dies, or the timeout passes."""
        started = next_liveness = time.monotonic()
        prober = Prober()
        while (now := time.monotonic()) < started + timeout:
            if now >= next_liveness:
                if not self.running(workload_id):
                    time.sleep(0.2)  # let the last log lines land
                    return Readiness(False, "the workload exited while starting", self.logs(workload_id))
                next_liveness = now + LIVENESS_INTERVAL
            if now - started >= probe.settle and prober.answers(endpoint, probe):
                return Readiness(True, "ready", [])
            time.sleep(PROBE_INTERVAL)
        what = f"{probe.path} not ready" if probe.path else "not running"
        return Readiness(False, f"{what} after {timeout:.0f} s", self.logs(workload_id))
