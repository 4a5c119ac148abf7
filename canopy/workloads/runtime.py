"""The interface every workload runtime implements, and readiness probing shared by them."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import requests

from canopy.contracts.deploy import WorkloadSpec

READY_TIMEOUT_SECONDS = 60.0


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

    keeps_workloads = False

    def adopt(self) -> list[Adopted]:
        """Workloads still running from before the agent (re)started; runtimes that keep them say so."""
        return []

    def close(self) -> None:
        """Release resources when the agent stops (workloads may keep running)."""
        return None

    def wait_ready(
        self, workload_id: str, endpoint: str, timeout: float = READY_TIMEOUT_SECONDS
    ) -> Readiness:
        """Poll endpoint/health until it answers ready, the workload dies, or the timeout passes."""
        deadline = time.monotonic() + timeout
        session = requests.Session()
        while time.monotonic() < deadline:
            if not self.running(workload_id):
                time.sleep(0.2)  # let the last log lines land
                return Readiness(False, "the workload exited while starting", self.logs(workload_id))
            try:
                response = session.get(f"{endpoint}/health", timeout=2)
                if response.status_code == 200 and response.json().get("status") == "ready":
                    return Readiness(True, "ready", [])
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        return Readiness(False, f"/health not ready after {timeout:.0f} s", self.logs(workload_id))
