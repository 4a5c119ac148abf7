"""App benchmark: upload to a ready instance per runtime, and device publish to `stream_sensor` inside an app.

Usage: python tests/bench/apps.py [--buses sqlite,kafka] [--runtimes process,docker] [--runs 5]
                                  [--duration 20] [--rate 100]

For each bus (the embedded SQLite bus; Kafka with the logins `canopy infra up` saved) the platform runs
in a subprocess as `canopy up` would (gateway, node manager, deployer, device manager) with one agent per
runtime, on an embedded store and blobs in a fresh CANOPY_HOME; the wheel and env caches are shared.

1. Upload to ready, warm: each run uploads a new version of the probe app (tests/bench/app_probe.py,
   canopy format, no requirements, one BENCH_PROBE sensor role), creates an instance at the location
   where the probe device is registered (binding succeeds), starts it on the runtime and times until the
   deployment is ready (its page answers). A first warm-up run builds the env or image; it is reported
   apart. Targets: p50 <= 5 s process, <= 8 s docker.
2. Device to app: a probe instance on the process runtime loops on `stream_sensor("probe")`, the call
   that delivers every reading (`get_sensor_data(i)` opens a new stream per call and misses what arrives
   between calls; `get_sensor_data(name)` polls the latest). This process posts readings at --rate/s for
   --duration s over HTTP with the device credential (one connection, in turn, as a device sends),
   each holding its send time; the app records the receive time minus it and serves the figures on its
   page. A tap on canopy.telemetry splits the path into stages (POST round trip, accepted by the device
   manager, on canopy.telemetry). Next to it, one bare hop on the same bus: the same TelemetryReading
   published and consumed directly. Target p99 <= 50 ms. Also reported: the platform process's CPU
   share and the load average over the case (the machine may be shared).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from canopy.bus import Bus
from canopy.contracts import topics
from tests.bench.app_probe import PROBE_TYPE, Tap, bare_hop, paced, probe_package, quantiles, reading
from tests.deploy_helpers import enrolled_key, share_build_caches

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "bench/hall"
TARGETS: dict[str, Any] = {"upload_p50_s": {"process": 5.0, "docker": 8.0}, "device_to_app_p99_ms": 50.0}


def serve(run: str) -> None:
    """The platform process: every service and one agent per runtime, until stdin closes."""
    from canopy.config import load_config
    from canopy.runtime import Service
    from canopy.runtime.backends import open_backends
    from canopy.workloads.process_runtime import free_port
    from services.deployer.service import deployer_components
    from services.device_manager.service import Placement, device_manager_components
    from services.gateway.app import create_app
    from services.gateway.server import HttpServer
    from services.node_agent.service import agent_components
    from services.node_manager.service import node_manager_components

    backends = open_backends(load_config())
    port = free_port()
    gateway = HttpServer(create_app(backends), "0.0.0.0", port)  # docker apps reach it on their bridge
    placement = Placement(group=f"bench-apps-dm-{run}", from_beginning=False)
    components = [
        gateway,
        *node_manager_components(backends),
        *deployer_components(backends),
        *device_manager_components(backends, placement=placement),
    ]
    for runtime in ("process", "docker"):
        node = f"bench-{runtime}"
        key = enrolled_key(backends, node)
        components += agent_components(
            backends, node, key, runtime=runtime, labels={"rt": runtime}, gateway=f"http://127.0.0.1:{port}"
        )
    service = Service("bench-apps", components)
    service.start()
    print(port, flush=True)
    sys.stdin.read()
    service.stop()
    backends.close()


def prepare(device_id: str) -> tuple[str, str]:
    """Create the bench user, the probe type and device at LOCATION; (user token, device credential)."""
    from canopy import devices
    from canopy.config import load_config
    from canopy.roles import Role
    from canopy.runtime.backends import open_backends
    from services.gateway import accounts

    backends = open_backends(load_config())
    with backends.store.session() as session:
        user = accounts.create_user(session, "bench", Role.APP_DEVELOPER, "password-123")
        token = accounts.issue_token(session, user, timedelta(hours=2)).secret
        devices.register_type(session, devices.parse_type(PROBE_TYPE))
        spec = devices.parse_device(
            {"id": device_id, "type": PROBE_TYPE["name"], "location": LOCATION, "transport": "http"}
        )
        credential = devices.create_device(session, spec).credential
    backends.close()
    return token, credential


class Platform:
    """The REST calls the benchmark makes on the platform subprocess, as the bench user."""

    def __init__(self, api: str, token: str) -> None:
        self.api = api
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.started: list[str] = []
        self.running: set[str] = set()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; its JSON, or RuntimeError with the answer."""
        reply = self.http.request(method, f"{self.api}{path}", timeout=60, **kwargs)
        if reply.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:500]}")
        return reply.json()

    def run_instance(self, version: str, runtime: str) -> tuple[str, dict[str, float]]:
        """Upload, create and start a probe instance; its id and the seconds of each step until ready."""
        package = probe_package(version)
        began = time.perf_counter()
        app = self.call("POST", "/api/v1/apps", files={"file": ("probe.zip", package)})
        uploaded = time.perf_counter()
        instance = self.call("POST", f"/api/v1/apps/{app['id']}/instances", json={"location": LOCATION})
        created = time.perf_counter()
        path = f"/api/v1/app-instances/{instance['id']}"
        generation = self.call("POST", f"{path}/start", json={"node_labels": {"rt": runtime}})["generation"]
        self.started.append(instance["id"])
        self.running.add(instance["id"])
        while True:
            view = self.call("GET", f"{path}/deployment")
            if view["generation"] == generation and view["status"] == "failed":
                raise RuntimeError(f"{runtime} instance failed: {view['message']} {view['logs']}")
            if view["generation"] == generation and view["status"] == "ready":
                break
            time.sleep(0.05)
        ready = time.perf_counter()
        if os.environ.get("BENCH_TRACE"):
            print(
                json.dumps([(e["at"][17:], e["stage"], e["message"][:60]) for e in view["events"]]),
                file=sys.stderr,
            )
        steps = {
            "upload_s": uploaded - began,
            "instance_s": created - uploaded,
            "start_to_ready_s": ready - created,
        }
        return instance["id"], {**steps, "total_s": ready - began}

    def stop(self, instance_id: str) -> None:
        """Stop an instance and wait until it has stopped."""
        path = f"/api/v1/app-instances/{instance_id}"
        generation = self.call("POST", f"{path}/stop")["generation"]
        self.running.discard(instance_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            view = self.call("GET", f"{path}/deployment")
            if view["generation"] == generation and view["status"] in ("stopped", "failed"):
                return
            time.sleep(0.2)

    def page(self, instance_id: str) -> dict[str, Any]:
        """The probe's page through the gateway's proxy."""
        reply = self.http.get(f"{self.api}/apps/{instance_id}/", timeout=30)
        reply.raise_for_status()
        page: dict[str, Any] = reply.json()
        return page


def upload_case(platform: Platform, runtime: str, runs: int, number: int) -> dict[str, Any]:
    """A warm-up run, then `runs` timed runs of upload to ready on one runtime."""
    warm_id, warmup = platform.run_instance(f"{number}.0.0", runtime)
    platform.stop(warm_id)
    timed = []
    for run in range(runs):
        instance_id, steps = platform.run_instance(f"{number}.1.{run}", runtime)
        platform.stop(instance_id)
        timed.append(steps)
    totals = sorted(steps["total_s"] for steps in timed)
    p50 = statistics.median(totals)
    return {
        "warmup_s": round(warmup["total_s"], 3),
        "p50_s": round(p50, 3),
        "p90_s": round(totals[min(len(totals) - 1, round(0.9 * (len(totals) - 1)))], 3),
        "max_s": round(totals[-1], 3),
        "median_steps_s": {k: round(statistics.median(s[k] for s in timed), 3) for k in timed[0]},
        "all_s": [round(t["total_s"], 3) for t in timed],
        "target_p50_s": TARGETS["upload_p50_s"][runtime],
        "meets_target": p50 <= TARGETS["upload_p50_s"][runtime],
    }


def device_case(
    platform: Platform, bus: Bus, device: tuple[str, str], rate: float, duration: float
) -> dict[str, Any]:
    """Readings posted at `rate`/s for `duration` s to a probe on the process runtime; its latencies.

    A tap on canopy.telemetry in this process splits the path: send to the device manager's
    acceptance (received_at), send to arrival on canopy.telemetry, and the rest to the app.
    """
    device_id, credential = device
    instance_id, _ = platform.run_instance("9.0.0", "process")
    url = f"{platform.api}/api/v1/devices/{device_id}/telemetry"
    http = requests.Session()  # one device: one keep-alive connection, its own credential
    http.headers["Authorization"] = f"Bearer {credential}"
    posts_ms: list[float] = []

    def post(n: int) -> None:
        """Send reading n as the device would, stamped with its send time."""
        body = {"reading": reading(n), "at": datetime.now(UTC).isoformat(), "seq": n}
        began = time.perf_counter()
        http.post(url, json=body, timeout=10).raise_for_status()
        posts_ms.append((time.perf_counter() - began) * 1000)

    tap = Tap(bus, topics.DEVICE_TELEMETRY, device_id)
    tap.start()
    deadline = time.monotonic() + 60
    while (
        platform.page(instance_id)["received"] == 0 or not tap.seen.is_set()
    ) and time.monotonic() < deadline:
        post(0)
        time.sleep(0.2)
    posts_ms.clear()
    count = int(rate * duration)
    took = paced(rate, count, post)  # a late answer is caught up on: the schedule is absolute
    tap.finish(count)
    deadline = time.monotonic() + 30
    page = platform.page(instance_id)
    while len(page["latencies_ms"]) < count and time.monotonic() < deadline:
        time.sleep(0.5)
        page = platform.page(instance_id)
    platform.stop(instance_id)
    figures = quantiles(page["latencies_ms"])
    return {
        "sdk_call": "stream_sensor('probe')",
        "rate_per_s": rate,
        "offered_per_s": round(count / took, 1),
        "sent": count,
        "received": len(page["latencies_ms"]),
        "app_errors": page["errors"][:5],
        **figures,
        "stages": {
            "http_post_round_trip": quantiles(posts_ms),
            "send_to_device_manager_accept": quantiles(tap.accepted_ms),
            "send_to_canopy_telemetry_consumer": quantiles(tap.arrived_ms),
        },
        "target_p99_ms": TARGETS["device_to_app_p99_ms"],
        "meets_target": 0 <= figures["p99_ms"] <= TARGETS["device_to_app_p99_ms"],
    }


class Machine:
    """How busy the machine and the platform process were over a case (the latencies depend on it)."""

    def __init__(self, pid: int) -> None:
        self.platform = psutil.Process(pid)
        self.began = time.monotonic()
        self.cpu = self._cpu()

    def _cpu(self) -> float:
        """User plus system CPU seconds of the platform process."""
        times = self.platform.cpu_times()
        return float(times.user + times.system)

    def since(self) -> dict[str, float]:
        """The platform process's share of the cores and the 1-minute load average, since creation."""
        cores = psutil.cpu_count() or 1
        share = (self._cpu() - self.cpu) / (time.monotonic() - self.began) / cores
        return {"cores": cores, "platform_cpu_share": round(share, 3), "load_average_1m": os.getloadavg()[0]}


def bus_environment(bus: str, home: str) -> dict[str, str]:
    """The environment of one bus case: a fresh CANOPY_HOME, and Kafka's URL and logins for "kafka"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANOPY_")}
    env.update(CANOPY_HOME=home, CANOPY_LOG_LEVEL="WARNING", PYTHONPATH=f"{ROOT}:{ROOT / 'sdk'}")
    if bus == "kafka":
        from bootstrap.infra.base import InfraPaths
        from bootstrap.infra.kafka.credentials import credentials_path, load_credentials

        logins = load_credentials(credentials_path(InfraPaths.default().cache("kafka")))
        if logins is None:
            raise SystemExit("no Kafka logins from `canopy infra up kafka`; run it first")
        env.update(**logins.environment(), CANOPY_BUS_URL="kafka://127.0.0.1:9092")
    return env


def bus_case(bus: str, runtimes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Both measurements with the platform on one bus."""
    from canopy.config import load_config
    from canopy.runtime.backends import open_config_bus

    run = uuid.uuid4().hex[:8]
    device_id = f"probe-{run}"
    with tempfile.TemporaryDirectory(prefix="canopy-bench-apps-") as home:
        share_build_caches(Path(home))
        env = bus_environment(bus, home)
        os.environ.clear()
        os.environ.update(env)
        token, credential = prepare(device_id)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", run],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        platform: Platform | None = None
        try:
            assert server.stdout is not None
            platform = Platform(f"http://127.0.0.1:{server.stdout.readline().strip()}", token)
            time.sleep(3)  # let the agents report once
            result: dict[str, Any] = {"bus": load_config().bus_url.split("?")[0], "upload_to_ready": {}}
            for number, runtime in enumerate(runtimes):
                result["upload_to_ready"][runtime] = upload_case(platform, runtime, args.runs, number)
            same_bus = open_config_bus(load_config())
            try:
                device = (device_id, credential)
                machine = Machine(server.pid)
                result["device_to_app"] = device_case(platform, same_bus, device, args.rate, args.duration)
                result["device_to_app"]["machine"] = machine.since()
                result["bare_bus_hop"] = bare_hop(same_bus, device_id, args.rate, args.duration)
            finally:
                same_bus.close()
        finally:
            if platform is not None:
                for instance_id in list(platform.running):
                    with contextlib.suppress(RuntimeError, requests.RequestException):
                        platform.stop(instance_id)
            if server.stdin is not None:
                server.stdin.close()
            server.wait(60)
            cleanup_docker(platform.started if platform else [], platform.api if platform else "")
    return result


def cleanup_docker(instance_ids: list[str], api: str) -> None:
    """Remove leftover containers of the bench's instances and the firewall exception for its gateway port."""
    import docker

    from canopy.workloads.docker_network import bridge_address, gateway_rule

    client = docker.from_env()
    for instance_id in instance_ids:
        for container in client.containers.list(all=True, filters={"label": f"canopy.model={instance_id}"}):
            container.remove(force=True)
    if api and os.geteuid() == 0:
        try:
            rule = gateway_rule(bridge_address(client), int(api.rsplit(":", 1)[1]))
        except (docker.errors.NotFound, RuntimeError):
            return
        subprocess.run(["iptables", "-w", "-D", *rule], check=False, capture_output=True)


def main() -> None:
    """Run every case and print the figures with the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", default="sqlite,kafka", help="comma-separated: sqlite, kafka")
    parser.add_argument("--runtimes", default="process,docker", help="comma-separated: process, docker")
    parser.add_argument("--runs", type=int, default=5, help="timed upload runs per runtime (default 5)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of readings (default 20)")
    parser.add_argument("--rate", type=float, default=100.0, help="readings per second (default 100)")
    parser.add_argument("--serve", metavar="RUN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    saved = dict(os.environ)
    report: dict[str, Any] = {"runs": args.runs, "targets": TARGETS}
    for bus in args.buses.split(","):
        if bus not in ("sqlite", "kafka"):
            parser.error(f"unknown bus {bus!r}; choose from sqlite, kafka")
        try:
            report[bus] = bus_case(bus, args.runtimes.split(","), args)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
