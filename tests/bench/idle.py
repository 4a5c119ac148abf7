"""Idle cost of `canopy up --demo` (14 simulated devices), per component, printed as one JSON document.

Usage: python tests/bench/idle.py [--warmup 40] [--duration 30]

Runs `canopy up --demo` on the embedded defaults in a fresh CANOPY_HOME whose store is already migrated
(as after a first start), waits --warmup seconds (the demo model and app deploy meanwhile), then
measures CPU over --duration seconds and memory at the end:
- per component of the platform process, from its threads' CPU times (thread names, which the process
  reports on SIGUSR1, are grouped by service: gateway, deployer, node agent, simulators, the bus, ...);
- per workload process (the demo model's server and the demo app, in their sandboxes);
- RSS and USS of every process, and the totals.
The same-run baseline is a bare Python interpreter sleeping next to it. Targets: the platform process
(simulators included) <= 5% of one core and <= 100 MB RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

TARGET_CPU_PERCENT = 5.0
TARGET_RSS_MB = 100.0
COMPONENTS = (  # thread name prefix -> component, first match wins
    ("gateway", "gateway"),
    ("waitress", "gateway"),
    ("feed", "gateway"),
    ("deploy", "deployer"),
    ("cmd-", "node_agent"),
    ("node-", "node_agent"),
    ("sandbox-spawner", "node_agent"),
    ("log-", "node_agent"),
    ("placement", "node_manager"),
    ("node-status", "node_manager"),
    ("device", "device_manager"),
    ("telemetry", "device_manager"),
    ("directory-refresh", "device_manager"),
    ("notif", "notifier"),
    ("schedul", "scheduler"),
    ("booking", "scheduler"),
    ("APScheduler", "scheduler"),
    ("ThreadPoolExecutor", "scheduler"),
    ("demo-fleet", "simulators"),
    ("commands-", "simulators"),
    ("heartbeat", "heartbeats"),
    ("canopy-bus", "bus"),
    ("MainThread", "main"),
)


def component_of(thread_name: str) -> str:
    """The component a thread belongs to, by its name's prefix."""
    return next(
        (component for prefix, component in COMPONENTS if thread_name.startswith(prefix)), thread_name
    )


def child(names_file: str) -> None:
    """Run `canopy up --demo` in this process, writing {native thread id: name} to names_file on SIGUSR1."""

    def dump(_signum: int, _frame: object) -> None:
        names = {thread.native_id: thread.name for thread in threading.enumerate()}
        Path(names_file + ".tmp").write_text(json.dumps(names))
        os.replace(names_file + ".tmp", names_file)

    signal.signal(signal.SIGUSR1, dump)
    from bootstrap.cli import cli

    cli(["up", "--demo"])


def _thread_times(process: psutil.Process) -> dict[int, float]:
    """CPU seconds per thread id of a process."""
    return {thread.id: thread.user_time + thread.system_time for thread in process.threads()}


def _cpu(process: psutil.Process) -> float:
    """CPU seconds of a process (its own threads, not its children)."""
    times = process.cpu_times()
    return float(times.user + times.system)


def _memory(process: psutil.Process) -> dict[str, float]:
    """RSS and USS of a process, in MB."""
    info = process.memory_full_info()
    return {"rss_mb": round(info.rss / 2**20, 1), "uss_mb": round(info.uss / 2**20, 1)}


def _workload_name(process: psutil.Process) -> str:
    """A workload process by what it runs: the model server, an app, or a helper (bwrap, database)."""
    command = " ".join(process.cmdline())
    if "platform_sdk.serving" in command:
        return "workload:model-server"
    if "platform_sdk.runner" in command:
        return "workload:app"
    return f"workload:{process.name()}"


def measure(
    platform: psutil.Process, bare: psutil.Process, names_file: Path, duration: float
) -> dict[str, Any]:
    """CPU per component over `duration` seconds, then memory: the platform, its workloads, the baseline."""
    workloads = [p for p in platform.children(recursive=True) if p.is_running()]
    threads_before = _thread_times(platform)
    before = {p.pid: _cpu(p) for p in [platform, bare, *workloads]}
    time.sleep(duration)
    threads_after = _thread_times(platform)
    after = {p.pid: _cpu(p) for p in [platform, bare, *workloads]}
    platform.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not names_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    names = {int(tid): name for tid, name in json.loads(names_file.read_text()).items()}
    per_component: dict[str, float] = {}
    for tid, seconds in threads_after.items():
        component = component_of(names.get(tid, "exited or native"))
        used = seconds - threads_before.get(tid, 0.0)
        per_component[component] = per_component.get(component, 0.0) + used
    platform_cpu = after[platform.pid] - before[platform.pid]
    per_component["threads that ended"] = max(0.0, platform_cpu - sum(per_component.values()))

    def percent(seconds: float) -> float:
        return round(100 * seconds / duration, 2)

    result: dict[str, Any] = {
        "platform_process": {
            "cpu_percent": percent(platform_cpu),
            **_memory(platform),
            "threads": len(threads_after),
            "components_cpu_percent": {
                name: percent(seconds) for name, seconds in sorted(per_component.items(), key=lambda x: -x[1])
            },
        },
        "workloads": {},
    }
    for process in workloads:
        if process.is_running() and process.pid in after:
            entry = {"cpu_percent": percent(after[process.pid] - before[process.pid]), **_memory(process)}
            result["workloads"][f"{_workload_name(process)} ({process.pid})"] = entry
    result["baseline_bare_python"] = {
        "cpu_percent": percent(after[bare.pid] - before[bare.pid]),
        **_memory(bare),
    }
    return result


def _wait_for_gateway(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Wait until the gateway answers /health (or fail with the log's end if the platform exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"canopy up exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the gateway did not answer within 120 s")


def main() -> None:
    """Run the platform and the baseline, measure, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=40.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    # the harness's own imports stay out of the child, whose memory is measured
    from canopy.workloads.process_runtime import free_port
    from tests.deploy_helpers import share_build_caches

    with tempfile.TemporaryDirectory(prefix="canopy-idle-") as tmp:
        home = Path(tmp)
        share_build_caches(home)
        port = free_port()
        env = {
            **os.environ,
            "CANOPY_HOME": str(home),
            "CANOPY_API_PORT": str(port),
            "CANOPY_ADMIN_PASSWORD": "idle-bench-password",
        }
        subprocess.run(  # the store as after a first start, so this one only opens it
            [
                sys.executable,
                "-c",
                "from canopy.config import load_config as c; from canopy.store import "
                "open_store as o; o(c().db_url).migrate()",
            ],
            env=env,
            check=True,
        )
        names_file = home / "threads.json"
        log_path = home / "up.log"
        log = log_path.open("wb")
        platform = subprocess.Popen(
            [sys.executable, __file__, "--child", str(names_file)], env=env, stdout=log, stderr=log
        )
        bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        try:
            _wait_for_gateway(port, platform, log_path)
            time.sleep(args.warmup)
            result = measure(
                psutil.Process(platform.pid), psutil.Process(bare.pid), names_file, args.duration
            )
        finally:
            bare.kill()
            platform.send_signal(signal.SIGTERM)
            try:
                platform.wait(timeout=60)
            except subprocess.TimeoutExpired:
                platform.kill()
            log.close()
    total_cpu = result["platform_process"]["cpu_percent"] + sum(
        w["cpu_percent"] for w in result["workloads"].values()
    )
    total_rss = result["platform_process"]["rss_mb"] + sum(w["rss_mb"] for w in result["workloads"].values())
    result["total"] = {"cpu_percent": round(total_cpu, 2), "rss_mb": round(total_rss, 1)}
    result["duration_s"] = args.duration
    result["targets"] = {"platform_cpu_percent": TARGET_CPU_PERCENT, "platform_rss_mb": TARGET_RSS_MB}
    result["targets_met"] = (
        result["platform_process"]["cpu_percent"] <= TARGET_CPU_PERCENT
        and result["platform_process"]["rss_mb"] <= TARGET_RSS_MB
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
