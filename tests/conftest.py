"""Shared fixtures: real infrastructure endpoints that fail under CI=true and skip elsewhere."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from canopy.config import Config, load_config

KAFKA_URL = os.environ.get("TEST_KAFKA_URL", "kafka://127.0.0.1:9092")
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
    require("Kafka", port_open("127.0.0.1", 9092))
    return KAFKA_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """An SQLAlchemy URL for the real PostgreSQL server, with the password `canopy infra up` generated."""
    if os.environ.get("TEST_POSTGRES_URL"):
        return os.environ["TEST_POSTGRES_URL"]
    from bootstrap.infra.postgres import saved_database_url

    require("PostgreSQL", port_open("127.0.0.1", load_config().postgres_port))
    url = saved_database_url()
    require("PostgreSQL's password file from `canopy infra up`", url is not None)
    return str(url).replace("postgresql://", "postgresql+psycopg://", 1)


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
