"""Sandbox start overhead: a model workload's start-to-ready under bubblewrap and without it, same run.

Usage: python tests/bench/sandbox.py [--starts N]

Two packages: iris (scikit-learn, whose import dominates) and a `python`-framework echo model that
imports nothing (the sandbox's own cost). Both sides run the same package with the same virtualenv
(built once in the Python 3.11 root filesystem) and poll /health the same way; the sandboxed side
goes through ProcessRuntime (bubblewrap, a uid of its own and cgroups when root), the baseline is the
bare model server process on the host's Python. Starts alternate between the two; the median, p90
and their ratio are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from canopy.config import load_config
from canopy.contracts.deploy import WorkloadSpec
from canopy.models.validate import find_package_root
from canopy.workloads.builder import Package, build_process_env
from canopy.workloads.process_runtime import ProcessRuntime, free_port
from canopy.workloads.runtime import Runtime
from canopy.workloads.sandbox import workload_env
from tests.deploy_helpers import IRIS_PACKAGE, share_build_caches


class Bare(Runtime):
    """The baseline: the model server as a plain host process, readiness probed like the runtime's."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, workload_id: str, spec: WorkloadSpec, generation: int) -> str:
        """Start the server on a free port."""
        port = free_port()
        command = [f"{spec.env_dir}/bin/python", "-m", "platform_sdk.serving", "--package", spec.package_dir]
        command += ["--host", "127.0.0.1", "--port", str(port), "--model-id", spec.model_id]
        env = workload_env(1) | {"PATH": f"{spec.env_dir}/bin:/usr/bin:/bin", "PYTHONPATH": spec.sdk_dir}
        env["HOME"] = tempfile.gettempdir()
        self.procs[workload_id] = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return f"http://127.0.0.1:{port}"

    def stop(self, workload_id: str) -> None:
        """Terminate and reap."""
        proc = self.procs.pop(workload_id)
        proc.terminate()
        proc.wait(10)

    def running(self, workload_id: str) -> bool:
        """Alive."""
        return self.procs[workload_id].poll() is None

    def logs(self, workload_id: str, lines: int = 20) -> list[str]:
        """Not kept."""
        return []

    def workloads(self) -> list[str]:
        """Started ones."""
        return list(self.procs)


def start_to_ready(runtime: Runtime, workload_id: str, spec: WorkloadSpec) -> float:
    """Seconds from start() to a ready /health; the workload is stopped afterwards."""
    started = time.perf_counter()
    endpoint = runtime.start(workload_id, spec, 1)
    readiness = runtime.wait_ready(workload_id, endpoint)
    elapsed = time.perf_counter() - started
    runtime.stop(workload_id)
    if not readiness.ready:
        raise RuntimeError(f"{runtime.name} workload not ready: {readiness.message} {readiness.logs}")
    return elapsed


def summary(times: list[float]) -> dict[str, float]:
    """Median and p90 in milliseconds."""
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 1), "p90_ms": round(p90 * 1000, 1)}


def echo_package(directory: Path) -> Path:
    """A `python`-framework model that imports nothing: start-up is the server's and the sandbox's own."""
    directory.mkdir()
    manifest = {"name": "echo", "version": "1.0.0", "framework": "python", "model_class": "echo.py:Echo"}
    manifest |= {"inputs": [{"name": "x", "type": "float"}], "outputs": [{"name": "x", "type": "float"}]}
    (directory / "model.json").write_text(json.dumps(manifest))
    (directory / "echo.py").write_text(ECHO)
    return directory


ECHO = """class Echo:
    def load(self, path):
        pass

    def predict(self, inputs):
        return inputs
"""


def measure(name: str, package: Package, home: Path, rootfs: Path, starts: int) -> dict[str, object]:
    """Alternate sandboxed and bare starts of one package; medians, p90s and the median ratio."""
    built = build_process_env(package, home, rootfs)
    spec = WorkloadSpec(
        model_id=name,
        runtime="process",
        package_dir=str(package.directory),
        env_dir=str(built.env),
        sdk_dir=str(built.sdk),
        python=built.python,
    )
    sandboxed, bare = ProcessRuntime(home / "agent", rootfs), Bare()
    times: dict[str, list[float]] = {"bubblewrap": [], "bare": []}
    for index in range(starts):
        times["bubblewrap"].append(start_to_ready(sandboxed, f"{name}-{index}", spec))
        times["bare"].append(start_to_ready(bare, f"{name}-{index}", spec))
    sandboxed.close()
    result: dict[str, object] = {side: summary(values) for side, values in times.items()}
    ratio = statistics.median(times["bubblewrap"]) / statistics.median(times["bare"])
    result["overhead_ratio_median"] = round(ratio, 3)
    return result


def main() -> None:
    """Build each environment once, then alternate sandboxed and bare starts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=7)
    args = parser.parse_args()
    rootfs = Path(load_config().rootfs_dir)
    with tempfile.TemporaryDirectory(prefix="canopy-bench-sandbox-") as tmp:
        home = Path(tmp)
        home.chmod(0o700)
        share_build_caches(home)
        manifest = json.loads((IRIS_PACKAGE / "model.json").read_text())
        iris = Package("iris", find_package_root(IRIS_PACKAGE), "bench", manifest["requirements"], "3.11")
        echo = Package("echo", echo_package(home / "echo"), "bench", [], "3.11")
        result = {
            "starts": args.starts,
            "uid_of_its_own_and_cgroups": os.geteuid() == 0,
            "echo": measure("echo", echo, home, rootfs, args.starts),
            "iris": measure("iris", iris, home, rootfs, args.starts),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
