"""Telemetry benchmark: Kafka-path throughput and CPU, device-to-subscriber latency, MQTT bridge throughput.

Usage: python tests/bench/telemetry.py [--kafka-url URL] [--mqtt-env FILE] [--duration S] [--count N]

The device manager runs in its own process on real Kafka (and Mosquitto for the bridge, logged in with
the platform account `canopy infra up` wrote to --mqtt-env) with 100 registered TEMP devices, each with
its broker account; this process plays the devices and a subscriber of canopy.telemetry. CPU share
is the device manager process's CPU time over the wall time of a case, divided by the 2 cores. Prints
one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from bootstrap.infra.base import InfraPaths
from bootstrap.infra.kafka.credentials import credentials_path, load_credentials
from bootstrap.infra.mosquitto_auth import read_env_file
from canopy import devices
from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.config import load_config
from canopy.contracts import encode, topics
from canopy.contracts.devices import TelemetryReading, TelemetrySubmission
from canopy.runtime.backends import open_backends, open_config_bus
from canopy.telemetry.mqtt import MqttLogin, telemetry_payload, topic_for
from canopy.telemetry.mqtt_accounts import DynsecAccounts, device_accounts

CORES = 2
DEVICES = 100
TARGETS = {
    "kafka_readings_per_s": 5_000,
    "kafka_cpu_share": 0.60,
    "p99_ms_at_1000": 30,
    "bridge_per_s": 2_000,
}
TEMP = {
    "name": "TEMP",
    "kind": "sensor",
    "fields": {"temperature": {"type": "float", "minimum": -40, "maximum": 125}},
}


class Collector(threading.Thread):
    """Counts the readings of the bench devices on canopy.telemetry; records latencies when asked."""

    def __init__(self, bus: Bus, prefix: str) -> None:
        super().__init__(daemon=True)
        self.prefix = prefix
        self.consumer = bus.consumer(
            f"{prefix}-subscriber",
            [topics.DEVICE_TELEMETRY, f"bench-{prefix}-baseline"],
            from_beginning=False,
        )
        self.count = 0
        self.last_at = 0.0
        self.latencies: list[float] | None = None
        self.running = True

    def run(self) -> None:
        """Poll until stopped."""
        while self.running:
            record = self.consumer.poll(0.2)
            if record is None or not (record.key or "").startswith(self.prefix):
                continue
            self.consumer.commit(record)
            self.count += 1
            self.last_at = time.perf_counter()
            if self.latencies is not None:
                at = datetime.fromisoformat(json.loads(record.value)["data"]["at"])
                self.latencies.append((datetime.now(UTC) - at).total_seconds() * 1000)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until `count` readings were seen since the start; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count >= count


def cpu_seconds(process: psutil.Process) -> float:
    """User plus system CPU time of a process."""
    times = process.cpu_times()
    return float(times.user + times.system)


def submission(device: str, seq: int) -> TelemetrySubmission:
    """A valid reading of a bench device, stamped now."""
    return TelemetrySubmission(device_id=device, reading={"temperature": 20.5}, at=datetime.now(UTC), seq=seq)


def prepared(fleet: list[tuple[str, str]], count: int) -> list[tuple[str, bytes]]:
    """`count` encoded submissions round-robin over the fleet, made before a case so it times the platform."""
    return [
        (fleet[seq % len(fleet)][0], encode(submission(fleet[seq % len(fleet)][0], seq)))
        for seq in range(count)
    ]


def paced(bus: Bus, fleet: list[tuple[str, str]], rate: float | None, count: int) -> float:
    """Publish `count` readings stamped when sent, round-robin, at `rate`/s (None: flat out)."""
    started = time.perf_counter()
    for seq in range(count):
        if rate is not None:
            ahead = seq / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        device = fleet[seq % len(fleet)][0]
        publish(bus, submission(device, seq), key=device)
    bus.flush()
    return time.perf_counter() - started


def send_prepared(bus: Bus, messages: list[tuple[str, bytes]], rate: float | None) -> None:
    """Publish prepared submissions at `rate`/s (None: flat out)."""
    started = time.perf_counter()
    for seq, (device, value) in enumerate(messages):
        if rate is not None and seq % 50 == 0:
            ahead = seq / rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        bus.publish(topics.TELEMETRY_INGEST, value, key=device)
    bus.flush()


def kafka_case(
    bus: Bus,
    fleet: list[tuple[str, str]],
    collector: Collector,
    dm: psutil.Process,
    rate: float | None,
    count: int,
) -> dict[str, Any]:
    """Push `count` readings through the Kafka path; throughput, CPU share of the device manager."""
    messages = prepared(fleet, count)
    collector.count = 0
    cpu0, t0 = cpu_seconds(dm), time.perf_counter()
    send_prepared(bus, messages, rate)
    sent_in = time.perf_counter() - t0
    complete = collector.wait_for(count, 300)
    elapsed = collector.last_at - t0
    cpu = cpu_seconds(dm) - cpu0
    return {
        "readings": count,
        "received": collector.count,
        "complete": complete,
        "offered_per_s": round(count / sent_in),
        "readings_per_s": round(collector.count / elapsed),
        "drain_lag_s": round(elapsed - sent_in, 3),
        "device_manager_cpu_share_of_2_cores": round(cpu / elapsed / CORES, 3),
    }


def latency_case(
    bus: Bus, fleet: list[tuple[str, str]], collector: Collector, duration: float, baseline: str | None = None
) -> dict[str, Any]:
    """Device-to-subscriber latency at 1,000 readings/s (with `baseline`, one bus hop to that topic)."""
    collector.count, collector.latencies = 0, []
    count = int(1000 * duration)
    started = time.perf_counter()
    for seq in range(count):
        ahead = seq / 1000 - (time.perf_counter() - started)
        if ahead > 0:
            time.sleep(ahead)
        device = fleet[seq % len(fleet)][0]
        message = submission(device, seq)
        if baseline is None:
            publish(bus, message, key=device)
        else:
            bus.publish(
                baseline, encode(TelemetryReading.model_construct(**_reading_fields(message))), key=device
            )
    bus.flush()
    collector.wait_for(count, 60)
    ordered = sorted(collector.latencies)
    collector.latencies = None

    def at(q: float) -> float:
        """The latency at quantile q."""
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else -1.0

    return {
        "rate": 1000,
        "readings": count,
        "received": len(ordered),
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    }


def _reading_fields(message: TelemetrySubmission) -> dict[str, Any]:
    """The fields of an accepted reading made from a submission (for the baseline)."""
    return {
        "device_id": message.device_id,
        "device_type": "TEMP",
        "reading": message.reading,
        "at": message.at,
        "received_at": message.at,
        "seq": message.seq,
        "source": "kafka",
    }


def device_client(login: MqttLogin, device: str, token: str) -> mqtt.Client:
    """A connected MQTT client logged in as one bench device."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device)
    client.username_pw_set(device, token)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(login.host, login.port)
    client.loop_start()
    return client


def bridge_case(
    login: MqttLogin, fleet: list[tuple[str, str]], collector: Collector, dm: psutil.Process, count: int
) -> dict[str, Any]:
    """Readings published over MQTT (QoS 1) by ten logged-in devices into the bridge, until all arrive."""
    senders = fleet[:10]
    clients = [device_client(login, device, token) for device, token in senders]
    collector.count = 0
    cpu0, t0 = cpu_seconds(dm), time.perf_counter()
    now = datetime.now(UTC)
    for seq in range(count):
        device = senders[seq % len(senders)][0]
        clients[seq % len(senders)].publish(
            topic_for(device, "telemetry"), telemetry_payload({"temperature": 20.5}, now, seq), qos=1
        )
    complete = collector.wait_for(count, 300)
    elapsed = collector.last_at - t0
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return {
        "readings": count,
        "received": collector.count,
        "complete": complete,
        "readings_per_s": round(collector.count / elapsed),
        "device_manager_cpu_share_of_2_cores": round((cpu_seconds(dm) - cpu0) / elapsed / CORES, 3),
    }


def serve(run: str) -> None:
    """The device manager process: its components on the configured backends until stdin closes."""
    from services.device_manager.service import Placement, device_manager_components

    backends = open_backends(load_config())
    placement = Placement(group=f"bench-dm-{run}", mqtt_client_id=f"bench-dm-{run}", from_beginning=False)
    components = device_manager_components(backends, placement=placement)
    for component in components:
        component.start()
    print("started", flush=True)
    sys.stdin.read()
    for component in reversed(components):
        component.stop()
    backends.close()


def forget_session(login: MqttLogin, client_id: str) -> None:
    """Drop a persistent MQTT session (as the platform) so no queue is left behind on the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(login.username, login.password)
    client.connect(login.host, login.port)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def register(count: int, prefix: str) -> list[tuple[str, str]]:
    """Register the TEMP type and `count` devices with broker accounts; return (id, credential) pairs."""
    backends = open_backends(load_config())
    accounts = device_accounts(backends.config)
    fleet = []
    with backends.store.session() as session:
        devices.register_type(session, devices.parse_type(TEMP))
        for i in range(count):
            spec = devices.parse_device(
                {"id": f"{prefix}-{i}", "type": "TEMP", "location": "bench/hall", "transport": "mqtt"}
            )
            fleet.append((f"{prefix}-{i}", devices.create_device(session, spec).credential))
    for device, token in fleet:
        accounts.put(device, token)
    backends.close()
    return fleet


def main() -> None:
    """Run every case and print the figures with the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kafka-url", default="kafka://127.0.0.1:9092")
    parser.add_argument(
        "--mqtt-env",
        default=str(load_config().home / "infra/mosquitto/platform.env"),
        help="the platform account file `canopy infra up` wrote for Mosquitto",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each paced case")
    parser.add_argument("--count", type=int, default=50_000, help="readings of the flat-out cases")
    parser.add_argument("--serve", metavar="RUN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    run = uuid.uuid4().hex[:8]
    prefix = f"b{run}"
    mqtt_settings = read_env_file(Path(args.mqtt_env))
    login = MqttLogin.parse(
        mqtt_settings["CANOPY_MQTT_URL"],
        mqtt_settings["CANOPY_MQTT_USERNAME"],
        mqtt_settings["CANOPY_MQTT_PASSWORD"],
    )
    logins = load_credentials(credentials_path(InfraPaths.default().cache("kafka")))
    if logins is None:
        raise SystemExit("no Kafka logins from `canopy infra up kafka`; run it first")
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CANOPY_")}
        env.update(
            **logins.environment(),
            **mqtt_settings,
            CANOPY_HOME=home,
            CANOPY_BUS_URL=args.kafka_url,
            CANOPY_LOG_LEVEL="WARNING",
        )
        os.environ.update(env)
        fleet = register(DEVICES, prefix)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", run],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "started"
            dm = psutil.Process(server.pid)
            bus = open_config_bus(load_config(), args.kafka_url)
            bus.ensure_topic(f"bench-{prefix}-baseline")
            collector = Collector(bus, prefix)
            collector.start()
            while not collector.wait_for(1, 1.0):
                paced(bus, fleet[:1], None, 1)
            time.sleep(2)
            result = {
                "kafka_path_flat_out": kafka_case(bus, fleet, collector, dm, None, args.count),
                "kafka_path_at_5000_per_s": kafka_case(
                    bus, fleet, collector, dm, 5000, int(5000 * args.duration)
                ),
                "latency_at_1000_per_s": latency_case(bus, fleet, collector, args.duration),
                "baseline_one_bus_hop_at_1000_per_s": latency_case(
                    bus, fleet, collector, args.duration, f"bench-{prefix}-baseline"
                ),
                "mqtt_bridge": bridge_case(login, fleet, collector, dm, min(args.count, 30_000)),
            }
            collector.running = False
            bus.close()
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(30)
            forget_session(login, f"bench-dm-{run}")
            accounts = DynsecAccounts(login)
            for device, _token in fleet:
                forget_session(login, device)
                accounts.remove(device)
    flat, paced5k = result["kafka_path_flat_out"], result["kafka_path_at_5000_per_s"]
    result["targets"] = TARGETS
    result["targets_met"] = {
        "kafka_throughput": flat["readings_per_s"] >= TARGETS["kafka_readings_per_s"],
        "kafka_cpu_at_5000": paced5k["complete"]
        and paced5k["drain_lag_s"] < 1.0
        and paced5k["device_manager_cpu_share_of_2_cores"] <= TARGETS["kafka_cpu_share"],
        "p99_at_1000": 0 <= result["latency_at_1000_per_s"]["p99_ms"] <= TARGETS["p99_ms_at_1000"],
        "bridge": result["mqtt_bridge"]["readings_per_s"] >= TARGETS["bridge_per_s"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
