"""A private Kafka broker and a private PostgreSQL for tests that stop or restart them; never the shared ones.

Both are started with the code `canopy infra up` uses, on free ports in a scratch directory, and
removed afterwards. The broker reuses the Kafka jars `canopy infra up` cached.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bootstrap.infra.base import HOST, InfraPaths, Ownership
from bootstrap.infra.kafka import Kafka
from bootstrap.infra.kafka.credentials import KafkaCredentials
from bootstrap.infra.packages import find_binary
from bootstrap.infra.postgres import DATABASE, ROLE, database_url, ensure_role_sql, generate_password
from bootstrap.infra.process import run_logged, wait_until
from tests.conftest import KAFKA_CREDENTIALS, require

START_TIMEOUT = 150.0
# The jars `canopy infra up kafka` fetched, next to the shared broker's credentials.
KAFKA_LIBS = KAFKA_CREDENTIALS.with_name("libs")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateKafka:
    """A running private broker: its URL, its logins, its process (to freeze) and a restart."""

    logins: KafkaCredentials
    component: Kafka
    record: Ownership

    @property
    def url(self) -> str:
        """The broker's kafka:// URL."""
        return f"kafka://{self.component.address}"

    @property
    def pid(self) -> int:
        """The broker's process id."""
        return self.record.pid

    def environment(self) -> dict[str, str]:
        """The CANOPY_* settings of a platform on this broker."""
        return {"CANOPY_BUS_URL": self.url, **self.logins.environment()}

    def start(self) -> None:
        """Start the broker as `canopy infra up` does and wait for it."""
        self.record = self.component.start()
        self.wait()

    def wait(self) -> None:
        """Wait until the broker's admin login lists it (a failure after START_TIMEOUT or if it exits)."""
        alive = lambda: os.path.exists(f"/proc/{self.record.pid}")  # noqa: E731
        if wait_until(self.component.answers, START_TIMEOUT, alive=alive) != "ok":
            raise self.component.failure(f"the private broker on {self.component.address} did not start")

    def restart(self) -> None:
        """Stop the broker as `canopy infra down` does, then start it again."""
        self.component.stop(self.record)
        self.start()


@contextmanager
def private_kafka(root: Path) -> Iterator[PrivateKafka]:
    """A one-node KRaft broker with SASL/SCRAM, ACLs and the platform's login, as `canopy infra up` has."""
    cached = any(KAFKA_LIBS.glob("kafka_*.jar"))
    require(f"the Kafka jars in {KAFKA_LIBS} (from `canopy infra up kafka`)", cached)
    kafka = Kafka(InfraPaths(root / "infra"))
    kafka.port, kafka.controller_port = free_port(), free_port()
    kafka.libs.symlink_to(KAFKA_LIBS, target_is_directory=True)
    kafka.prepare()
    logins = kafka.credentials()
    assert logins is not None
    broker = PrivateKafka(logins, kafka, kafka.start())
    try:
        broker.wait()
        kafka.ensure()
        yield broker
    finally:
        os.kill(broker.pid, signal.SIGCONT)  # a test that failed while the broker was frozen
        kafka.stop(broker.record)


@dataclass(frozen=True)
class PrivatePostgres:
    """A private PostgreSQL cluster in a scratch directory: its URL, and fast stop and start.

    `log` collects the output of the commands run on it; the server's own log is data/server.log.
    """

    data: Path
    port: int
    password: str
    log: Path

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of its canopy database, as the shared one's."""
        return database_url(self.password, self.port).replace("postgresql://", "postgresql+psycopg://", 1)

    def stop(self) -> None:
        """Stop the server the fast way (clients disconnected, data kept)."""
        self._ctl("stop", "-m", "fast")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses={HOST} -c fsync=off"
        self._ctl("start", "-l", str(self.data / "server.log"), "-o", options)

    def psql(self, sql: str) -> None:
        """Run SQL as the postgres superuser over the cluster's own socket."""
        code = _as_postgres(
            [
                _pg_bin("psql"),
                "-h",
                str(self.data.parent),
                "-p",
                str(self.port),
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            self.log,
        )
        assert code == 0, f"psql failed; see {self.log}"

    def _ctl(self, action: str, *args: str) -> None:
        ctl = [_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", action, *args]
        code = _as_postgres(ctl, self.log)
        assert code == 0, f"pg_ctl {action} failed; see {self.log}"


def _pg_bin(name: str) -> str:
    """A program of the newest PostgreSQL server installed from Debian."""
    found = find_binary(f"/usr/lib/postgresql/*/bin/{name}")
    require(f"PostgreSQL's {name} (Debian package postgresql)", found is not None)
    return str(found)


def _as_postgres(argv: list[str], log: Path) -> int:
    """Run a command as the postgres user (the server refuses to run as root)."""
    runuser = find_binary("runuser") or "runuser"
    return run_logged([runuser, "-u", "postgres", "--", *argv], log, cwd=Path("/"), timeout=120)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Run initdb in a scratch directory, start it on a free port, create the canopy role and database."""
    scratch = Path(tempfile.mkdtemp(prefix="canopy-pg-"))
    shutil.chown(scratch, "postgres", "postgres")
    server = PrivatePostgres(scratch / "data", free_port(), generate_password(), scratch / "commands.log")
    log = server.log
    try:
        code = _as_postgres([_pg_bin("initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust"], log)
        assert code == 0, f"initdb failed; see {log}"
        server.start()
        role, database = ensure_role_sql(server.password)[0], f"CREATE DATABASE {DATABASE} OWNER {ROLE}"
        server.psql(role)
        server.psql(database)
        yield server
    finally:
        _as_postgres([_pg_bin("pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop"], log)
        shutil.rmtree(scratch, ignore_errors=True)
