"""Bus benchmark: publish throughput and end-to-end latency per driver, printed as one JSON document.

Usage: python tests/bench/bus.py [--drivers sqlite,kafka] [--duration S]

"kafka" runs on two fresh throwaway brokers started from the jars `canopy infra up` fetched, in the
same run: one with the platform's SASL/SCRAM-SHA-512 configuration, one PLAINTEXT, and reports the
ratio of the two ("sasl_vs_plaintext").

Every case runs for --duration seconds. Latency is measured from publish() in this process to poll()
returning in a consumer subprocess (which commits each record, like a service does), for 1 KB values
at a fixed rate (Kafka 1,000 msg/s, SQLite 500 msg/s) and at full speed.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bootstrap.infra.base import InfraPaths
from canopy.bus import Bus, Credentials, open_bus
from canopy.bus.kafka import sasl_settings
from canopy.config import load_config
from canopy.runtime.backends import open_config_bus

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.kafka_brokers import bench_broker

VALUE_BYTES = 1024
PROBE, MEASURED, STOP = 0, 1, 2
HEADER = struct.Struct("!Bq")
RATES = {"sqlite": 500, "kafka": 1000}
TARGETS = {
    "sqlite": {"publish_msg_per_s": 5_000, "p99_ms_at_rate": 50},
    "kafka": {"publish_msg_per_s": 50_000, "p99_ms_at_rate": 20},
}
READY_TIMEOUT = 60.0
DRAIN_TIMEOUT = 30.0
PADDING = os.urandom(VALUE_BYTES)


def message(kind: int, number: int = 0) -> bytes:
    """A 1 KB value: its kind, the send time (or the count, for STOP) and random padding."""
    head = HEADER.pack(kind, time.time_ns() if kind == MEASURED else number)
    return head + PADDING[: VALUE_BYTES - len(head)]


def publish_throughput(url: str, login: Credentials | None, duration: float) -> float:
    """Messages per second published at full speed, the final flush included."""
    bus = open_bus(url, credentials=login)
    topic = f"bench-publish-{uuid.uuid4().hex[:8]}"
    bus.publish(topic, message(PROBE))
    bus.flush()
    value = message(PROBE)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < duration:
        for _ in range(1000):
            bus.publish(topic, value, key=f"key-{count % 100}")
            count += 1
    bus.flush(timeout=120)
    elapsed = time.perf_counter() - started
    bus.close()
    return round(count / elapsed)


def raw_client_throughput(driver: str, url: str, login: Credentials | None, duration: float) -> float:
    """Baseline for the same run: the raw client (confluent-kafka, or sqlite3 batches) with no bus on top."""
    value, count, started = message(PROBE), 0, time.perf_counter()
    if driver == "kafka":
        from confluent_kafka import Producer

        servers = url.removeprefix("kafka://").split("?")[0]
        producer = Producer(
            {
                "bootstrap.servers": servers,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 1,
                "compression.type": "lz4",
                **(sasl_settings(login.username, login.password) if login else {}),
            }
        )
        topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
        open_bus(url, credentials=login).ensure_topic(topic)
        started = time.perf_counter()
        while time.perf_counter() - started < duration:
            for _ in range(1000):
                while True:
                    try:
                        producer.produce(topic, value, key=f"key-{count % 100}")
                        break
                    except BufferError:
                        producer.poll(0.01)
                count += 1
            producer.poll(0)
        producer.flush(120)
    else:
        import sqlite3

        with tempfile.TemporaryDirectory(prefix="canopy-bench-raw-") as scratch:
            connection = sqlite3.connect(f"{scratch}/raw.db")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("CREATE TABLE m (n INTEGER PRIMARY KEY, k TEXT, v BLOB)")
            started = time.perf_counter()
            while time.perf_counter() - started < duration:
                with connection:
                    connection.executemany(
                        "INSERT INTO m (n, k, v) VALUES (?, ?, ?)",
                        ((count + n, f"key-{n % 100}", value) for n in range(1000)),
                    )
                count += 1000
            connection.close()
    return round(count / (time.perf_counter() - started))


def latency(url: str, login: Credentials | None, duration: float, rate: float | None) -> dict[str, Any]:
    """Percentiles of publish-to-poll latency at `rate` msg/s (None: as fast as possible)."""
    bus = open_bus(url, credentials=login)
    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    bus.ensure_topic(topic)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CANOPY_KAFKA_")}
    if login is not None:
        env.update(CANOPY_KAFKA_USERNAME=login.username, CANOPY_KAFKA_PASSWORD=login.password)
    consumer = subprocess.Popen(
        [sys.executable, __file__, "--consume", url, topic], stdout=subprocess.PIPE, text=True, env=env
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=pump, args=(consumer, lines), daemon=True).start()
    try:
        wait_until_ready(bus, topic, lines)
        sent, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < duration:
            if rate is not None and sent >= elapsed * rate:
                time.sleep(min(0.001, sent / rate - elapsed))
                continue
            bus.publish(topic, message(MEASURED), key=f"key-{sent % 100}")
            sent += 1
        bus.publish(topic, message(STOP, sent))
        bus.flush(timeout=120)
        result: dict[str, Any] = json.loads(lines.get(timeout=DRAIN_TIMEOUT + 30))
    finally:
        consumer.kill()
        consumer.wait()
        bus.close()
    result["sent_msg_per_s"] = round(sent / duration)
    return result


def pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Copy a subprocess's output lines into a queue, so they can be awaited with a timeout."""
    for line in process.stdout or []:
        lines.put(line.strip())


def wait_until_ready(bus: Bus, topic: str, lines: queue.Queue[str]) -> None:
    """Send probes until the consumer has joined and received one."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        bus.publish(topic, message(PROBE))
        bus.flush()
        try:
            if lines.get(timeout=0.1) == "ready":
                return
        except queue.Empty:
            continue
    raise TimeoutError(f"the consumer did not receive a probe within {READY_TIMEOUT:.0f} s")


def consume(url: str, topic: str) -> None:
    """The consumer subprocess: print 'ready' at the first probe, then the latency figures as JSON."""
    bus = open_config_bus(load_config(), url)
    consumer = bus.consumer(f"bench-{uuid.uuid4().hex[:8]}", [topic])
    latencies: list[float] = []
    expected: int | None = None
    ready = False
    first_ns = last_ns = 0
    deadline = time.monotonic() + READY_TIMEOUT + 600
    while time.monotonic() < deadline and (expected is None or len(latencies) < expected):
        record = consumer.poll(0.1)
        if record is None:
            continue
        received = time.time_ns()
        kind, number = HEADER.unpack_from(record.value)
        consumer.commit(record)
        if kind == PROBE and not ready:
            ready = True
            print("ready", flush=True)
        elif kind == MEASURED:
            latencies.append((received - number) / 1e6)
            first_ns = first_ns or received
            last_ns = received
        elif kind == STOP and expected is None:
            expected = number
            deadline = min(deadline, time.monotonic() + DRAIN_TIMEOUT)
    consumer.close()
    result = percentiles(latencies, expected)
    result["consumed_msg_per_s"] = round(len(latencies) / max(1e-9, (last_ns - first_ns) / 1e9))
    print(json.dumps(result), flush=True)


def percentiles(latencies: list[float], expected: int | None) -> dict[str, Any]:
    """p50/p99/max of the latencies, with how many arrived out of how many were sent."""
    ordered = sorted(latencies)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2) if ordered else -1.0

    return {
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
        "received": len(ordered),
        "sent": expected,
    }


def bench_driver(driver: str, url: str, login: Credentials | None, duration: float) -> dict[str, Any]:
    """Every case for one driver, with its targets and whether they were met."""
    throughput = publish_throughput(url, login, duration)
    baseline = raw_client_throughput(driver, url, login, duration)
    at_rate = latency(url, login, duration, RATES[driver])
    full_speed = latency(url, login, duration, None)
    target = TARGETS[driver]
    return {
        "url": url,
        "sasl": login is not None,
        "publish_msg_per_s": throughput,
        "baseline_raw_client_msg_per_s": baseline,
        "publish_vs_raw_client": round(throughput / baseline, 3),
        f"latency_at_{RATES[driver]}_msg_per_s": at_rate,
        "latency_at_full_speed": full_speed,
        "targets": target,
        "targets_met": throughput >= target["publish_msg_per_s"]
        and 0 <= at_rate["p99_ms"] <= target["p99_ms_at_rate"],
    }


def bench_kafka(duration: float) -> dict[str, Any]:
    """The Kafka cases on two fresh brokers of the same jars, one with SASL/SCRAM and one PLAINTEXT."""
    libs = InfraPaths.default().cache("kafka") / "libs"
    with bench_broker(libs, sasl=True) as sasl_broker, bench_broker(libs, sasl=False) as plain_broker:
        for warm_up in (sasl_broker, plain_broker):
            publish_throughput(*warm_up, duration)
        sasl = bench_driver("kafka", *sasl_broker, duration)
        plain = bench_driver("kafka", *plain_broker, duration)
    at_rate = f"latency_at_{RATES['kafka']}_msg_per_s"
    ratio = {
        "publish": round(sasl["publish_msg_per_s"] / plain["publish_msg_per_s"], 3),
        "p50_at_rate": round(sasl[at_rate]["p50_ms"] / max(0.01, plain[at_rate]["p50_ms"]), 3),
        "p99_at_rate": round(sasl[at_rate]["p99_ms"] / max(0.01, plain[at_rate]["p99_ms"]), 3),
    }
    return {"kafka_sasl": sasl, "kafka_plaintext": plain, "sasl_vs_plaintext": ratio}


def main() -> None:
    """Parse the arguments and print the JSON report (or run as the consumer subprocess)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drivers", default="sqlite,kafka", help="comma-separated: sqlite, kafka")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per case (default 3)")
    parser.add_argument("--consume", nargs=2, metavar=("URL", "TOPIC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        consume(*args.consume)
        return
    report: dict[str, Any] = {"duration_s": args.duration, "value_bytes": VALUE_BYTES}
    drivers = [name.strip() for name in args.drivers.split(",") if name.strip()]
    for driver in drivers:
        if driver not in ("sqlite", "kafka"):
            parser.error(f"unknown driver {driver!r}; choose from sqlite, kafka")
    if "sqlite" in drivers:
        with tempfile.TemporaryDirectory(prefix="canopy-bench-") as scratch:
            report["sqlite"] = bench_driver("sqlite", f"sqlite:///{scratch}/bus.db", None, args.duration)
    if "kafka" in drivers:
        report.update(bench_kafka(args.duration))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
