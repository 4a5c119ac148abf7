"""A throwaway PLAINTEXT Kafka broker from the jars `canopy infra up` fetched: the bus benchmark's baseline.

The platform's broker only speaks SASL/SCRAM; this one runs on free ports in a temporary directory,
for the same run to measure what SASL costs. It is stopped and deleted when the benchmark ends.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from bootstrap.infra.kafka import JVM_OPTIONS, STORAGE_TOOL, new_cluster_id
from bootstrap.infra.packages import find_binary

START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _properties(data: Path, port: int, controller: int) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data),
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _answers(servers: str) -> bool:
    try:
        return bool(AdminClient({"bootstrap.servers": servers}).list_topics(timeout=2).brokers)
    except KafkaException:
        return False


@contextmanager
def plaintext_broker(libs: Path) -> Iterator[str]:
    """Run a PLAINTEXT broker from the jars in `libs`; yield its kafka:// URL."""
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"no Kafka jars in {libs}; run `canopy infra up kafka` first")
    java = find_binary("java") or "java"
    port, controller = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="canopy-bench-kafka-") as scratch:
        root = Path(scratch)
        (root / "server.properties").write_text(_properties(root / "data", port, controller))
        base = [java, *JVM_OPTIONS, "-cp", f"{libs}/*"]
        log = (root / "kafka.log").open("wb")
        subprocess.run(
            [*base, STORAGE_TOOL, "format", "-t", new_cluster_id(), "-c", str(root / "server.properties")],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
        )
        broker = subprocess.Popen(
            [*base, "kafka.Kafka", str(root / "server.properties")], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(f"127.0.0.1:{port}"):
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the baseline broker did not start; see {root / 'kafka.log'}")
                time.sleep(0.5)
            yield f"kafka://127.0.0.1:{port}"
        finally:
            broker.terminate()
            try:
                broker.wait(60)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
            log.close()
