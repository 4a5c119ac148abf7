"""Portal benchmark: time to first byte of list pages and chart data, and live charts one gateway holds.

Usage: python tests/bench/portal.py [--samples 200] [--steps 10,25,50,100,200,400,800] [--hold 10]

The gateway runs alone under gunicorn (`python -m services.gateway`, deploy/gunicorn.conf.py: one
gthread worker) on the embedded backends, seeded through the domain functions with 100 models,
1,000 devices over 50 locations (with a stored latest reading each) and 10 nodes that reported
their load. Readings of the charted devices flow on the bus at one per device per second, so the
charts move. Every request is the platform administrator's, signed in through the login form.

- Time to first byte (p50/p95, sequential on one keep-alive connection) of each list page in PAGES
  (target p95 <= 100 ms) and of a device chart's data, CHART (target p95 <= 300 ms), against a
  baseline measured in the same run: the login page, which renders the layout and nothing else.
- Live charts: N clients each poll a chart's data once per second on their own keep-alive
  connection, for N in --steps; meanwhile another process reads /api/v1/health 20 times a second.
  The largest N whose health p99 stays <= 100 ms (and whose polls all succeed) is what one gateway
  holds.
A page whose endpoint is not registered is reported as missing, without figures. Prints one JSON
document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from canopy import devices
from canopy.bus.typed import publish
from canopy.config import load_config
from canopy.contracts import decode, encode
from canopy.contracts.deploy import NodeStatus
from canopy.contracts.devices import TelemetryReading
from canopy.models.repository import ModelRepository
from canopy.nodes.enrolment import enrol_here
from canopy.roles import Role
from canopy.runtime.backends import Backends, open_backends
from canopy.telemetry.storage import upsert_many
from canopy.workloads.commands import sign
from services.gateway import accounts
from services.gateway.views.models import WORKSPACES_DIR
from services.node_manager.service import NodeManager
from tests.fixtures.model_packages.corpus import modern_files, zip_bytes
from tests.gateway_process import free_port, start_gateway, wait_healthy

# The pages measured, by name: read from here so that a renamed or new page is one line.
PAGES = {
    "models": "/portal/models",
    "devices": "/portal/devices",
    "nodes": "/portal/nodes",
    "device_types": "/portal/device-types",
}
CHART = "/portal/devices/{device_id}/readings.json"
BASELINE = "/portal/login"
HEALTH = "/api/v1/health"
TARGETS = {"page_p95_ms": 100, "chart_p95_ms": 300, "health_p99_ms": 100}
MODELS, DEVICES, NODES, SITES, ROOMS = 100, 1000, 10, 10, 5
CHARTED = 100  # devices whose readings flow; chart clients spread over them
HISTORY = 120  # readings per charted device before measuring (a full chart)
ADMIN_PASSWORD = "bench-admin-password-1"
SENSOR_TYPE = "BENCHSENSOR"
SENSOR = {
    "name": SENSOR_TYPE,
    "kind": "sensor",
    "fields": {
        "temperature": {"type": "float", "minimum": -40, "maximum": 125},
        "humidity": {"type": "float", "minimum": 0, "maximum": 100},
    },
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def device_id(index: int) -> str:
    """The id of the bench's device number `index`."""
    return f"bench-{index:04d}"


def reading(index: int, at: datetime) -> TelemetryReading:
    """A plausible reading of device `index` at `at`."""
    phase = at.timestamp() / 60 + index
    return TelemetryReading(
        device_id=device_id(index),
        device_type=SENSOR_TYPE,
        reading={"temperature": 20 + 5 * (phase % 1), "humidity": 40 + 10 * ((phase * 3) % 1)},
        at=at,
        received_at=at,
        source="http",
    )


def seed(backends: Backends) -> dict[str, int]:
    """Models, device type, devices at locations with a latest reading each, nodes with a report."""
    home = backends.config.home
    with backends.store.session() as session:
        owner = accounts.create_user(session, "bench-developer", Role.AI_DEVELOPER, "password-123")
        owner_id = owner.id
    repository = ModelRepository(backends.store, backends.blob, home / WORKSPACES_DIR)
    for index in range(MODELS):
        package = zip_bytes(modern_files(name=f"bench-model-{index:03d}", version="1.0.0"))
        repository.upload(io.BytesIO(package), owner_id)
    now = datetime.now(UTC)
    with backends.store.session() as session:
        devices.register_type(session, devices.parse_type(SENSOR))
    for start in range(0, DEVICES, 100):
        with backends.store.session() as session:
            for index in range(start, start + 100):
                location = f"site-{index % SITES}/room-{index // SITES % ROOMS}"
                spec = {"id": device_id(index), "type": SENSOR_TYPE, "location": location}
                devices.create_device(session, devices.parse_device(spec))
            upsert_many(session, [reading(index, now) for index in range(start, start + 100)])
    manager = NodeManager(backends)
    for index in range(NODES):
        node_id = f"bench-node-{index:02d}"
        with backends.store.session() as session:
            key = enrol_here(session, home, node_id, now)
        status = NodeStatus(
            node_id=node_id,
            runtime="process",
            labels={"site": f"site-{index % SITES}"},
            cpu_percent=10.0 + index,
            memory_percent=30.0 + index,
            cpu_count=4,
            memory_mb=8192,
            max_workloads=16,
            at=datetime.now(UTC),
        )
        manager.on_status(decode(encode(sign(status, key))), None)  # type: ignore[arg-type]
    return {"models": MODELS, "devices": DEVICES, "locations": SITES * ROOMS, "nodes": NODES}


class ReadingFlow(threading.Thread):
    """Publishes one reading per charted device per second on the bus, as the devices would."""

    def __init__(self, backends: Backends) -> None:
        super().__init__(daemon=True)
        self.backends = backends
        self.stopping = threading.Event()

    def backfill(self) -> None:
        """A full chart's worth of past readings for every charted device."""
        now = datetime.now(UTC)
        for step in range(HISTORY, 0, -1):
            at = now - timedelta(seconds=step)
            for index in range(CHARTED):
                publish(self.backends.bus, reading(index, at), key=device_id(index))
        self.backends.bus.flush()

    def run(self) -> None:
        """Until stopped, once a second."""
        while not self.stopping.wait(1.0):
            at = datetime.now(UTC)
            for index in range(CHARTED):
                publish(self.backends.bus, reading(index, at), key=device_id(index))
            self.backends.bus.flush()


def sign_in(url: str) -> str:
    """The Cookie header of the admin signed in through the portal's login form."""
    browser = requests.Session()
    page = browser.get(f"{url}/portal/login", timeout=10)
    token = CSRF.search(page.text)
    if token is None:
        raise RuntimeError("the login page has no form token")
    form = {"user": "admin", "password": ADMIN_PASSWORD, "csrf_token": token.group(1)}
    signed_in = browser.post(f"{url}/portal/login", data=form, allow_redirects=False, timeout=10)
    if signed_in.status_code != 303:
        raise RuntimeError(f"sign-in refused: {signed_in.status_code}")
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def wait_for_history(url: str, path: str, cookie: str) -> int:
    """Wait (60 s at most) until the chart holds the whole backfill; how many points it holds."""
    points, deadline = 0, time.monotonic() + 60
    while time.monotonic() < deadline:
        reply = requests.get(url + path, headers={"Cookie": cookie}, timeout=10)
        if reply.status_code != 200 or "json" not in reply.headers.get("Content-Type", ""):
            return 0
        points = len(reply.json().get("times", []))
        if points >= HISTORY:
            break
        time.sleep(0.5)
    return points


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
    }


def first_bytes(port: int, path: str, cookie: str, samples: int) -> tuple[int, list[float]]:
    """The status and the times to first byte of `samples` sequential GETs on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times: list[float] = []
    status = 0
    for sample in range(samples + 10):
        started = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": cookie})
        response = connection.getresponse()
        elapsed = time.perf_counter() - started
        response.read()
        status = response.status
        if status != 200:
            break
        if sample >= 10:  # the first ten warm up
            times.append(elapsed)
    connection.close()
    return status, times


def measure_page(port: int, path: str, cookie: str, samples: int, target_ms: float) -> dict[str, Any]:
    """Figures of one page, or why there are none."""
    status, times = first_bytes(port, path, cookie, samples)
    if status == 404:
        return {"path": path, "missing": "no such page on this gateway yet (404)"}
    if status != 200:
        return {"path": path, "error": f"HTTP {status}"}
    figures = percentiles(times)
    return {"path": path, **figures, "target_p95_ms": target_ms, "met": figures["p95_ms"] <= target_ms}


def probe_health(port: int, seconds: float, results: Any) -> None:
    """In its own process: GET /api/v1/health 20 times a second for `seconds`; put the latencies."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            connection.request("GET", HEALTH)
            response = connection.getresponse()
            response.read()
            failures += response.status != 200
        except (OSError, http.client.HTTPException):
            failures += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - started)
        time.sleep(max(0.0, 0.05 - (time.perf_counter() - started)))
    results.put((latencies, failures))


async def chart_client(
    port: int, path: str, cookie: str, offset: float, stop: asyncio.Event, seen: dict[str, Any]
) -> None:
    """Poll `path` once a second on one keep-alive connection until stopped (reconnects are counted)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()
    await asyncio.sleep(offset)
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while not stop.is_set():
        started = loop.time()
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            ok = head.startswith(b"HTTP/1.1 200")
            seen["latencies"].append(loop.time() - started)
            seen["errors"] += not ok
        except (OSError, asyncio.IncompleteReadError, AttributeError):
            seen["reconnects"] += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (loop.time() - started)))
    writer.close()


async def hold_charts(port: int, cookie: str, clients: int, hold: float) -> dict[str, Any]:
    """Run `clients` live charts; measure health from another process while they poll."""
    stop = asyncio.Event()
    seen: dict[str, Any] = {"latencies": [], "errors": 0, "reconnects": 0}
    paths = [CHART.format(device_id=device_id(index % CHARTED)) for index in range(clients)]
    tasks = [
        asyncio.create_task(chart_client(port, path, cookie, index / clients, stop, seen))
        for index, path in enumerate(paths)
    ]
    await asyncio.sleep(3)  # every client connected and polling
    seen["latencies"].clear()
    results: Any = multiprocessing.get_context("spawn").Queue()
    probe = multiprocessing.get_context("spawn").Process(target=probe_health, args=(port, hold, results))
    started = time.monotonic()
    probe.start()
    health, failures = await asyncio.get_running_loop().run_in_executor(None, results.get)
    polled = time.monotonic() - started
    probe.join()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    charts = percentiles(seen["latencies"]) if len(seen["latencies"]) > 1 else {}
    health_figures = percentiles(health)
    held = (
        health_figures["p99_ms"] <= TARGETS["health_p99_ms"]
        and failures == 0
        and seen["errors"] == 0
        and seen["reconnects"] == 0
    )
    return {
        "clients": clients,
        "health": {**health_figures, "failures": failures},
        "chart_polls": {**charts, "per_s": round(len(seen["latencies"]) / polled, 1)},
        "errors": seen["errors"],
        "reconnects": seen["reconnects"],
        "held": held,
    }


def main() -> None:
    """Seed, start the gateway under gunicorn, measure, print one JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--steps", default="10,25,50,100,200,400,800")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds of health probing per step")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="canopy-bench-portal-") as tmp:
        home = Path(tmp) / "home"
        for key in [key for key in os.environ if key.startswith("CANOPY_")]:
            del os.environ[key]
        os.environ["CANOPY_HOME"] = str(home)
        backends = open_backends(load_config())
        result: dict[str, Any] = {"seeded": seed(backends), "cores": os.cpu_count(), "targets": TARGETS}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with (Path(tmp) / "gateway.log").open("w") as log:
            gateway = start_gateway(
                home, port, log, CANOPY_ADMIN_PASSWORD=ADMIN_PASSWORD, CANOPY_LOG_LEVEL="WARNING"
            )
        flow = ReadingFlow(backends)
        try:
            wait_healthy(url, gateway, 120)
            flow.backfill()
            flow.start()
            cookie = sign_in(url)
            chart_path = CHART.format(device_id=device_id(0))
            points = wait_for_history(url, chart_path, cookie)
            baseline = measure_page(port, BASELINE, "", args.samples, TARGETS["page_p95_ms"])
            result["baseline"] = baseline
            result["pages"] = {
                name: measure_page(port, path, cookie, args.samples, TARGETS["page_p95_ms"])
                for name, path in PAGES.items()
            }
            chart = measure_page(port, chart_path, cookie, args.samples, TARGETS["chart_p95_ms"])
            chart["points_per_series"] = points
            result["chart"] = chart
            for figures in [*result["pages"].values(), chart]:
                if "p50_ms" in figures and baseline.get("p50_ms"):
                    figures["p50_over_baseline"] = round(figures["p50_ms"] / baseline["p50_ms"], 2)
            if "missing" in chart:
                result["live_charts"] = {"missing": "the chart endpoint is not on this gateway yet"}
            else:
                steps = []
                for clients in (int(step) for step in args.steps.split(",")):
                    step = asyncio.run(hold_charts(port, cookie, clients, args.hold))
                    steps.append(step)
                    print(json.dumps(step), file=sys.stderr, flush=True)
                    if not step["held"]:
                        break
                held = [step["clients"] for step in steps if step["held"]]
                result["live_charts"] = {"held": max(held, default=0), "steps": steps}
        finally:
            flow.stopping.set()
            gateway.terminate()
            try:
                gateway.wait(timeout=60)
            except subprocess.TimeoutExpired:
                gateway.kill()
            backends.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
