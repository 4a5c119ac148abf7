"""Healing benchmark: how fast crashed, hung and lost replicas serve again, and false restarts under jitter.

Usage: python tests/bench/healing.py [--runs 5] [--jitter 20]

The control plane (gateway, node manager, deployer, heartbeat service) runs in this process on the
embedded bus and store with the default CANOPY_HEAL_* timeouts; agents are subprocesses with the
process runtime, and the iris example model is served. Each figure is printed next to the timeouts it
depends on and same-run baselines: a warm deploy of the same model (upload to serving), and crashes on
a platform without warm spares (CANOPY_HEAL_SPARES=off, the model started cold):
- crash: SIGKILL of the model server, once its warm spare listens, to a new replica answering /predict
  (p50, p95; target p95 <= 3 s);
- hang: SIGSTOP of the model server to its endpoint being taken out of the registry, i.e. detected and
  acted on (target <= 4 s), and to a new replica answering;
- node lost: kill -9 of the agent holding the replica to a replica answering on the other node
  (target <= 15 s);
- jitter: the agent frozen for up to 500 ms at random for --jitter s while every core is busy:
  replicas replaced (target 0).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from canopy.config import load_config
from tests.e2e.faults import FaultPlatform, fault_platform, kill, predicts, spare_port

TARGETS = {"crash_p95_s": 3.0, "hang_detected_s": 4.0, "node_lost_s": 15.0, "false_restarts": 0}
TIMEOUT_KEYS = (
    "node_report_interval",
    "heal_replica_timeout",
    "heal_hang_timeout",
    "heal_node_timeout",
    "heal_backoff",
    "heal_restarts",
    "heal_spares",
)


def until(condition: Callable[[], Any], timeout: float = 120.0) -> float:
    """Poll the condition every 50 ms; the seconds it took to hold."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"not healed within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - started


def serving_other_than(platform: FaultPlatform, model_id: str, old: str) -> bool:
    """Whether a replica other than `old` is registered and answers."""
    endpoints = platform.view(model_id)["endpoints"]
    return len(endpoints) == 1 and endpoints[0] != old and predicts(endpoints[0])


STAGES = {  # the deployer's event messages that open each stage
    "replacing": re.compile(r"replacing "),
    "fetching": re.compile(r"fetching the package"),
    "placing": re.compile(r"asking the node manager"),
    "starting": re.compile(r"starting \S+ on node"),
    "ready": re.compile(r"\S+ ready at "),
}


def stamp(at: str) -> float:
    """An event's time (stored in UTC, with or without its zone) as a POSIX timestamp."""
    parsed = datetime.fromisoformat(at)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def stages(platform: FaultPlatform, model_id: str, fault_at: float, serving: float) -> dict[str, float]:
    """Seconds from the fault (a wall-clock time) to each stage's first event after it, and to serving."""
    events = [(stamp(e["at"]), e["message"]) for e in platform.view(model_id)["events"]]
    found: dict[str, float] = {}
    for stage, marker in STAGES.items():
        times = [at for at, message in events if at > fault_at and marker.match(message)]
        if times:
            found[stage] = round(min(times) - fault_at, 2)
    return {**found, "serving": round(serving, 2)}


def medians(breakdowns: list[dict[str, float]]) -> dict[str, float]:
    """The median of each stage over several runs."""
    keys = dict.fromkeys(key for breakdown in breakdowns for key in breakdown)
    return {key: round(statistics.median(b[key] for b in breakdowns if key in b), 2) for key in keys}


def summary(values: list[float]) -> dict[str, float]:
    """Median, p95 (inclusive method) and max of some timings, in seconds."""
    p95 = values[0] if len(values) == 1 else statistics.quantiles(values, n=20, method="inclusive")[-1]
    return {"p50": round(statistics.median(values), 2), "p95": round(p95, 2), "max": round(max(values), 2)}


def inject(platform: FaultPlatform, fault: signal.Signals, spares: bool) -> dict[str, Any]:
    """Deploy a fresh model (its first fault: no backoff yet), signal its server; the timings of each step.

    With `spares` the fault comes once the node's warm spare of the model listens (a steady state).
    """
    started = time.monotonic()
    model_id, view = platform.deploy_iris()
    deployed = time.monotonic() - started
    [old] = view["endpoints"]
    spare_wait = until(lambda: spare_port(platform, model_id, old)) if spares else 0.0
    started, fault_at = time.monotonic(), time.time()
    kill(platform.agents["a"], old, fault)
    detected = until(lambda: old not in platform.view(model_id)["endpoints"])
    until(lambda: serving_other_than(platform, model_id, old))
    serving = time.monotonic() - started
    breakdown = stages(platform, model_id, fault_at, serving)
    undeploy = platform.call("POST", f"/api/v1/models/{model_id}/undeploy")
    platform.settle(model_id, undeploy["generation"])  # frees the node's workload slot
    return {
        "deploy": deployed,
        "spare": spare_wait,
        "detected": detected,
        "serving": serving,
        "stages": breakdown,
    }


def replica_faults(platform: FaultPlatform, runs: int) -> dict[str, Any]:
    """Crash and hang figures on one agent (warm spares on) with the warm deploy baseline."""
    crashes = [inject(platform, signal.SIGKILL, spares=True) for _ in range(runs)]
    hangs = [inject(platform, signal.SIGSTOP, spares=True) for _ in range(runs)]
    return {
        "baseline_warm_deploy_s": summary([run["deploy"] for run in crashes + hangs]),
        "spare_listening_after_ready_s": summary([run["spare"] for run in crashes + hangs]),
        "crash_to_serving_s": summary([run["serving"] for run in crashes]),
        "crash_stages_median_s": medians([run["stages"] for run in crashes]),
        "hang_to_detected_s": summary([run["detected"] for run in hangs]),
        "hang_to_serving_s": summary([run["serving"] for run in hangs]),
    }


def jitter(platform: FaultPlatform, model_id: str, seconds: float) -> int:
    """Replicas replaced while the agent stalls up to 500 ms at random on a saturated CPU."""
    before = len([e for e in platform.view(model_id)["events"] if e["message"].startswith("replacing ")])
    burn = f"import time\nend = time.monotonic() + {seconds + 5}\nwhile time.monotonic() < end: pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2 * (os.cpu_count() or 1))]
    agent, rng = platform.agents["a"], random.Random(3)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            agent.send_signal(signal.SIGSTOP)
            time.sleep(rng.uniform(0.0, 0.5))
            agent.send_signal(signal.SIGCONT)
            time.sleep(rng.uniform(0.1, 0.5))
    finally:
        agent.send_signal(signal.SIGCONT)
        for burner in burners:
            burner.kill()
            burner.wait()
    time.sleep(5)  # anything the jitter set off would be acting by now
    events = platform.view(model_id)["events"]
    return len([e for e in events if e["message"].startswith("replacing ")]) - before


def node_lost(platform: FaultPlatform) -> dict[str, float]:
    """Seconds from kill -9 of the agent holding the replica to each stage, up to serving on another node."""
    model_id, view = platform.deploy_iris()
    [node], [old] = view["nodes"], view["endpoints"]
    agent = platform.agents[node.rsplit("-", 1)[1]]
    t0, fault_at = time.monotonic(), time.time()
    agent.send_signal(signal.SIGKILL)
    until(lambda: serving_other_than(platform, model_id, old))
    return stages(platform, model_id, fault_at, time.monotonic() - t0)


def main() -> None:
    """Run every case and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--jitter", type=float, default=20.0)
    args = parser.parse_args()
    alert = {"CANOPY_HEAL_ALERT_TO": "ops@example.com"}
    with tempfile.TemporaryDirectory(prefix="bench-healing-") as home:
        with fault_platform(Path(home) / "one", settings=alert) as platform:
            config = load_config()
            timeouts = {key: getattr(config, key) for key in TIMEOUT_KEYS}
            platform.start_agent("a")
            replicas = replica_faults(platform, args.runs)
            model_id, _ = platform.deploy_iris()
            false_restarts = jitter(platform, model_id, args.jitter)
        with fault_platform(Path(home) / "two", settings=alert) as platform:
            platform.start_agent("a")
            platform.start_agent("b")
            time.sleep(3)  # both agents report
            lost = node_lost(platform)
        with fault_platform(Path(home) / "cold", settings={**alert, "CANOPY_HEAL_SPARES": "off"}) as platform:
            platform.start_agent("a")
            cold = [inject(platform, signal.SIGKILL, spares=False) for _ in range(args.runs)]
    print(
        json.dumps(
            {
                "timeouts": timeouts,
                **replicas,
                "baseline_crash_to_serving_without_spares_s": summary([run["serving"] for run in cold]),
                "baseline_crash_stages_without_spares_median_s": medians([run["stages"] for run in cold]),
                "node_lost_to_serving_s": lost["serving"],
                "node_lost_stages_s": lost,
                "false_restarts_under_jitter": false_restarts,
                "jitter_seconds": args.jitter,
                "targets": TARGETS,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
