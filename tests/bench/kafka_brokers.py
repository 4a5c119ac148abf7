"""Throwaway Kafka brokers from the jars `canopy infra up` fetched, with SASL/SCRAM or PLAINTEXT.

The bus benchmark starts one of each on free ports in temporary directories, so the same run
measures what SASL costs on two equally fresh brokers; they are stopped and deleted at the end.
The SASL one uses the platform's own server.properties (SCRAM-SHA-512, ACLs) and its admin login.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from bootstrap.infra.kafka import JVM_OPTIONS, SINGLE_NODE, STORAGE_TOOL, new_cluster_id, server_properties
from bootstrap.infra.kafka.credentials import KafkaCredentials
from bootstrap.infra.packages import find_binary
from canopy.bus import Credentials
from canopy.bus.kafka import sasl_settings

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
        **SINGLE_NODE,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _answers(servers: str, login: Credentials | None) -> bool:
    settings = {
        "bootstrap.servers": servers,
        **(sasl_settings(login.username, login.password) if login else {}),
    }
    try:
        return bool(AdminClient(settings).list_topics(timeout=2).brokers)
    except KafkaException:
        return False


@contextmanager
def bench_broker(libs: Path, sasl: bool) -> Iterator[tuple[str, Credentials | None]]:
    """Run a broker from the jars in `libs`; yield its kafka:// URL and the login to use (SASL only)."""
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"no Kafka jars in {libs}; run `canopy infra up kafka` first")
    java = find_binary("java") or "java"
    port, controller = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="canopy-bench-kafka-") as scratch:
        root = Path(scratch)
        logins = KafkaCredentials(*(secrets.token_hex(16) for _ in range(3)))
        login = Credentials(logins.admin_user, logins.admin_password) if sasl else None
        properties = server_properties(root / "data", logins, port, controller) if sasl else None
        (root / "server.properties").write_text(properties or _properties(root / "data", port, controller))
        scram = ["--add-scram", f"SCRAM-SHA-512=[name={logins.admin_user},password={logins.admin_password}]"]
        base = [java, *JVM_OPTIONS, "-cp", f"{libs}/*"]
        log = (root / "kafka.log").open("wb")
        subprocess.run(
            [*base, STORAGE_TOOL, "format", "-t", new_cluster_id(), "-c", str(root / "server.properties")]
            + (scram if sasl else []),
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
            while not _answers(f"127.0.0.1:{port}", login):
                if broker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the baseline broker did not start; see {root / 'kafka.log'}")
                time.sleep(0.5)
            yield f"kafka://127.0.0.1:{port}", login
        finally:
            broker.terminate()
            try:
                broker.wait(60)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
            log.close()
