"""The app benchmark's probe: a canopy-format app package, its device type, and the bare bus hop baseline.

The probe app serves a page at once (so an instance is ready when the page answers) and loops on
`stream_sensor("probe")`, recording for every reading the receive time minus the send time the
benchmark embedded in it ("sent", epoch seconds, same host clock). Its page answers the latencies
of the measured readings (n > 0) as JSON. The baseline publishes the same TelemetryReading the
device manager would (same size) straight to a topic and consumes it in a thread: one bus hop.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

from canopy.bus import Bus
from canopy.contracts import decode, encode
from canopy.contracts.devices import TelemetryReading

TYPE_NAME = "BENCH_PROBE"
PROBE_TYPE = {
    "name": TYPE_NAME,
    "kind": "sensor",
    "description": "A benchmark sensor whose readings carry their own send time",
    "fields": {
        "sent": {"type": "float", "unit": "s", "minimum": 0, "maximum": 1e11},
        "n": {"type": "int", "minimum": 0, "maximum": 10**9},
    },
}
ROLE = "probe"
PROBE_SOURCE = '''
"""Bench probe: streams its sensor, records each reading's latency and serves the figures on its page."""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from platform_sdk import stream_sensor

STATE = {"received": 0, "errors": [], "latencies_ms": []}


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        data = json.dumps(STATE).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def listen():
    host = "0.0.0.0" if os.path.exists("/.dockerenv") else "127.0.0.1"
    ThreadingHTTPServer((host, int(os.environ["CANOPY_APP_PORT"])), Page).serve_forever()


def main():
    threading.Thread(target=listen, daemon=True).start()
    while True:
        try:
            for reading in stream_sensor("probe"):
                received = time.time()
                STATE["received"] += 1
                if reading["n"] > 0:
                    STATE["latencies_ms"].append((received - reading["sent"]) * 1000)
        except Exception as exc:
            STATE["errors"].append(repr(exc)[:200])
            time.sleep(0.2)
'''


def probe_package(version: str) -> bytes:
    """The probe app's zip (canopy format, no requirements) at `version`."""
    manifest = {
        "name": "bench-probe",
        "version": version,
        "description": "Benchmark probe: device-to-app latency on its page",
        "entry": "probe:main",
        "devices": [{"name": ROLE, "type": TYPE_NAME}],
        "page": {"port": 8000},
        "requirements": [],
        "python": "3.11",
        "resources": {"cpu": 0.25, "memory_mb": 128},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.json", json.dumps(manifest))
        archive.writestr("probe.py", PROBE_SOURCE)
    return buffer.getvalue()


def reading(n: int) -> dict[str, Any]:
    """A probe reading stamped now; n = 0 marks a warm-up probe, n > 0 a measured reading."""
    return {"sent": time.time(), "n": n}


def quantiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in milliseconds."""
    ordered = sorted(latencies_ms)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2) if ordered else -1.0

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


def hop_message(device_id: str, n: int) -> bytes:
    """The TelemetryReading the device manager publishes for a probe reading, encoded (same size)."""
    now = datetime.now(UTC)
    message = TelemetryReading(
        device_id=device_id,
        device_type=TYPE_NAME,
        reading=reading(n),
        at=now,
        received_at=now,
        seq=n,
        source="http",
    )
    return encode(message)


class Tap(threading.Thread):
    """Consumes probe readings of one device on a topic: latency from their send time to arrival here."""

    def __init__(self, bus: Bus, topic: str, device_id: str) -> None:
        super().__init__(name="bench-tap", daemon=True)
        self.device_id = device_id
        self.consumer = bus.consumer(f"bench-apps-tap-{uuid.uuid4().hex[:8]}", [topic], from_beginning=False)
        self.arrived_ms: list[float] = []
        self.accepted_ms: list[float] = []  # received_at (the device manager accepted it) minus sent
        self.seen = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        """Poll until stopped."""
        while not self.stopping.is_set():
            record = self.consumer.poll(0.2)
            if record is None:
                continue
            received = time.time()
            self.consumer.commit(record)
            probe = decode(record.value).message
            if not isinstance(probe, TelemetryReading) or probe.device_id != self.device_id:
                continue
            self.seen.set()
            if probe.reading["n"] > 0:
                self.arrived_ms.append((received - probe.reading["sent"]) * 1000)
                self.accepted_ms.append((probe.received_at.timestamp() - probe.reading["sent"]) * 1000)
        self.consumer.close()

    def finish(self, count: int, timeout: float = 30) -> None:
        """Wait until `count` measured readings arrived (or the timeout), then stop."""
        deadline = time.monotonic() + timeout
        while len(self.arrived_ms) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stopping.set()
        self.join(5)


def bare_hop(bus: Bus, device_id: str, rate: float, duration: float) -> dict[str, Any]:
    """Publish → consume latency of probe readings on one topic of `bus` at `rate`/s for `duration` s."""
    topic = f"bench-apps-hop-{uuid.uuid4().hex[:8]}"
    bus.ensure_topic(topic)
    tap = Tap(bus, topic, device_id)
    tap.start()
    deadline = time.monotonic() + 60
    while not tap.seen.wait(0.2) and time.monotonic() < deadline:
        bus.publish(topic, hop_message(device_id, 0), key=device_id)
        bus.flush()
    count = int(rate * duration)
    size = len(hop_message(device_id, 1))
    paced(rate, count, lambda n: (bus.publish(topic, hop_message(device_id, n), key=device_id), bus.flush()))
    tap.finish(count)
    figures = {"rate_per_s": rate, "sent": count, "received": len(tap.arrived_ms), "message_bytes": size}
    return figures | quantiles(tap.arrived_ms)


def paced(rate: float, count: int, send: Any) -> float:
    """Call send(n) for n = 1..count at `rate` per second (absolute schedule); the seconds it took."""
    started = time.perf_counter()
    for n in range(1, count + 1):
        ahead = (n - 1) / rate - (time.perf_counter() - started)
        if ahead > 0:
            time.sleep(ahead)
        send(n)
    return time.perf_counter() - started
