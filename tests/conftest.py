"""Shared fixtures: real infrastructure endpoints that fail under CI=true and skip elsewhere."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.infra.kafka.credentials import KafkaCredentials, load_credentials
from canopy.bus import Credentials
from canopy.config import Config, load_config

KAFKA_URL = os.environ.get("TEST_KAFKA_URL", "kafka://127.0.0.1:9092")
KAFKA_PORT = int(KAFKA_URL.rpartition(":")[2].split("?")[0])
# The logins `canopy infra up` wrote for the broker the tests use (read before tests change CANOPY_HOME).
KAFKA_CREDENTIALS = Path(
    os.environ.get("TEST_KAFKA_CREDENTIALS")
    or Path(os.environ.get("CANOPY_HOME") or "~/.canopy").expanduser()
    / "infra"
    / "kafka"
    / "credentials.json"
)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://canopy:canopy@127.0.0.1:5432/canopy")
AZURITE_CONNECTION_STRING = "UseDevelopmentStorage=true"
MQTT_URL = "mqtt://127.0.0.1:1883"
DOCKER_SOCKET = "/var/run/docker.sock"


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(name: str, reachable: bool) -> None:
    """Fail under CI=true, otherwise skip, when a real component is not running."""
    if reachable:
        return
    message = f"{name} is not running; start it with `canopy infra up` (or `make infra`)."
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_url() -> str:
    """The address of the real Kafka broker."""
    require("Kafka", port_open("127.0.0.1", KAFKA_PORT))
    return KAFKA_URL


@pytest.fixture(scope="session")
def kafka_logins(kafka_url: str) -> KafkaCredentials:
    """The admin and platform logins of the real broker, as `canopy infra up` wrote them."""
    logins = load_credentials(KAFKA_CREDENTIALS)
    require(f"Kafka with SASL logins in {KAFKA_CREDENTIALS}", logins is not None)
    assert logins is not None
    return logins


@pytest.fixture(scope="session")
def kafka_platform(kafka_logins: KafkaCredentials) -> Credentials:
    """The platform services' Kafka login."""
    return Credentials(kafka_logins.platform_user, kafka_logins.platform_password)


def kafka_environment(monkeypatch: pytest.MonkeyPatch, url: str, logins: KafkaCredentials) -> None:
    """Point CANOPY_BUS_URL at the real broker with the platform's and the admin's logins."""
    monkeypatch.setenv("CANOPY_BUS_URL", url)
    for key, value in logins.environment().items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """An SQLAlchemy URL for the real PostgreSQL server."""
    require("PostgreSQL", port_open("127.0.0.1", 5432))
    return POSTGRES_URL


@pytest.fixture(scope="session")
def azurite_connection_string() -> str:
    """A connection string for the Azurite blob emulator."""
    require("Azurite", port_open("127.0.0.1", 10000))
    return AZURITE_CONNECTION_STRING


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    """The address of the real Mosquitto broker."""
    require("Mosquitto", port_open("127.0.0.1", 1883))
    return MQTT_URL


@pytest.fixture(scope="session")
def docker_socket() -> str:
    """The path of the running Docker Engine's socket."""
    require("Docker Engine", Path(DOCKER_SOCKET).is_socket())
    return DOCKER_SOCKET


@pytest.fixture()
def canopy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated CANOPY_HOME with no other CANOPY_* settings leaking in from the environment."""
    for key in list(os.environ):
        if key.startswith("CANOPY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CANOPY_HOME", str(tmp_path / "home"))
    yield tmp_path / "home"


@pytest.fixture()
def config(canopy_home: Path) -> Config:
    """Validated configuration on the embedded defaults inside canopy_home."""
    return load_config()
