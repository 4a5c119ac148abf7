"""The process runtime: a model server subprocess in the model's virtualenv, with resource limits."""

from __future__ import annotations

import math
import os
import resource
import signal
import socket
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from canopy.contracts.deploy import WorkloadSpec
from canopy.workloads.runtime import Runtime, tail


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _limits(memory_mb: int, cores: list[int]) -> Callable[[], None]:
    """preexec_fn: own process group, address-space limit, CPU affinity and a lower priority."""

    def apply() -> None:
        """Runs in the child between fork and exec."""
        os.setsid()
        address_space = (memory_mb + 2048) * 1024 * 1024  # headroom for shared libraries and arenas
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        os.sched_setaffinity(0, cores)
        os.nice(5)

    return apply


def _cores_for(workload_id: str, cpu: float) -> list[int]:
    """ceil(cpu) of the cores this process may use, starting at an offset chosen by the workload id."""
    available = sorted(os.sched_getaffinity(0))
    count = min(len(available), max(1, math.ceil(cpu)))
    offset = zlib.crc32(workload_id.encode()) % len(available)
    return [available[(offset + i) % len(available)] for i in range(count)]


@dataclass
class _Process:
    """A started model server process, its log file and endpoint."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    endpoint: str


class ProcessRuntime(Runtime):
    """Runs each workload as `python -m platform_sdk.serving` on 127.0.0.1, logging to a file."""

    name = "process"

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._procs: dict[str, _Process] = {}

    def start(self, workload_id: str, spec: WorkloadSpec, generation: int) -> str:
        """Start the model server; return its endpoint (idempotent while it runs)."""
        current = self._procs.get(workload_id)
        if current is not None and current.popen.poll() is None:
            return current.endpoint
        port = free_port()
        log_path = self.work_dir / "logs" / f"{workload_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        cores = _cores_for(workload_id, spec.resources.cpu)
        threads = str(len(cores))
        env = {
            "PATH": f"{spec.env_dir}/bin:/usr/bin:/bin",
            "PYTHONPATH": spec.sdk_dir,
            "HOME": str(self.work_dir),
            "PYTHONUNBUFFERED": "1",
            **{name: threads for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        }
        command = [f"{spec.env_dir}/bin/python", "-m", "platform_sdk.serving", "--package", spec.package_dir]
        command += ["--host", "127.0.0.1", "--port", str(port), "--model-id", spec.model_id]
        with log_path.open("ab") as log_file:
            popen = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=spec.package_dir,
                preexec_fn=_limits(spec.resources.memory_mb, cores),
            )
        endpoint = f"http://127.0.0.1:{port}"
        self._procs[workload_id] = _Process(popen, log_path, endpoint)
        return endpoint

    def stop(self, workload_id: str) -> None:
        """Terminate the workload's process group, then kill it after 5 s; idempotent."""
        proc = self._procs.pop(workload_id, None)
        if proc is None or proc.popen.poll() is not None:
            return
        os.killpg(proc.popen.pid, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=5)

    def running(self, workload_id: str) -> bool:
        """Whether the process is alive."""
        proc = self._procs.get(workload_id)
        return proc is not None and proc.popen.poll() is None

    def logs(self, workload_id: str, lines: int = 20) -> list[str]:
        """The last lines the workload wrote."""
        path = self.work_dir / "logs" / f"{workload_id}.log"
        return tail(path.read_bytes() if path.exists() else b"", lines)

    def workloads(self) -> list[str]:
        """Every workload this runtime started and has not stopped."""
        return list(self._procs)

    def close(self) -> None:
        """Stop every workload."""
        for workload_id in list(self._procs):
            self.stop(workload_id)
