"""Throwaway Kafka brokers from the jars `canopy infra up` fetched, with SASL/SCRAM or PLAINTEXT.

The bus benchmark starts one of each on free ports in temporary directories, so the same run
measures what SASL costs on two equally fresh brokers; they are stopped and deleted at the end.
The SASL one uses the platform's own server.properties (SCRAM-SHA-512, ACLs) and its admin login.
Tests that must restart a broker restart one of these, never the shared one.
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


class ThrowawayBroker:
    """One broker process on its formatted storage in `root`; it can be stopped and started again."""

    def __init__(self, libs: Path, root: Path, sasl: bool) -> None:
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise RuntimeError(f"no Kafka jars in {libs}; run `canopy infra up kafka` first")
        self.root = root
        self.base = [find_binary("java") or "java", *JVM_OPTIONS, "-cp", f"{libs}/*"]
        port, controller = _free_port(), _free_port()
        self.servers = f"127.0.0.1:{port}"
        logins = KafkaCredentials(*(secrets.token_hex(16) for _ in range(3)))
        self.login = Credentials(logins.admin_user, logins.admin_password) if sasl else None
        properties = server_properties(root / "data", logins, port, controller) if sasl else None
        (root / "server.properties").write_text(properties or _properties(root / "data", port, controller))
        scram = ["--add-scram", f"SCRAM-SHA-512=[name={logins.admin_user},password={logins.admin_password}]"]
        with (root / "kafka.log").open("ab") as log:
            subprocess.run(
                [
                    *self.base,
                    STORAGE_TOOL,
                    "format",
                    "-t",
                    new_cluster_id(),
                    "-c",
                    str(root / "server.properties"),
                ]
                + (scram if sasl else []),
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker's kafka:// URL."""
        return f"kafka://{self.servers}"

    def start(self) -> None:
        """Run the broker and wait until its admin login lists it (RuntimeError after START_TIMEOUT)."""
        with (self.root / "kafka.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*self.base, "kafka.Kafka", str(self.root / "server.properties")], stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.servers, self.login):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.root / "kafka.log"
                raise RuntimeError(f"the throwaway broker did not start or refused its admin; see {log}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the broker as `canopy infra down` does (SIGTERM, a kill after 60 s)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def throwaway_broker(libs: Path, sasl: bool) -> Iterator[ThrowawayBroker]:
    """A started broker from the jars in `libs` in a temporary directory, stopped and deleted at the end."""
    with tempfile.TemporaryDirectory(prefix="canopy-kafka-") as scratch:
        broker = ThrowawayBroker(libs, Path(scratch), sasl)
        try:
            broker.start()
            yield broker
        finally:
            broker.stop()


@contextmanager
def bench_broker(libs: Path, sasl: bool) -> Iterator[tuple[str, Credentials | None]]:
    """Run a broker from the jars in `libs`; yield its kafka:// URL and the login to use (SASL only)."""
    with throwaway_broker(libs, sasl) as broker:
        yield broker.url, broker.login
