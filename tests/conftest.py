"""Shared fixtures: real infrastructure endpoints that fail under CI=true and skip elsewhere."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from bootstrap.infra.kafka.credentials import KafkaCredentials, load_credentials
from bootstrap.infra.mosquitto_auth import read_env_file
from canopy.bus import Credentials
from canopy.config import Config, load_config
from canopy.telemetry.mqtt import MqttLogin
from canopy.telemetry.mqtt_accounts import DynsecAccounts

KAFKA_URL = os.environ.get("TEST_KAFKA_URL", "kafka://127.0.0.1:9092")
# This session's namespace on the shared broker (CANOPY_TOPIC_PREFIX): concurrent runs and a platform
# started there later never see its messages.
KAFKA_TOPIC_PREFIX = f"test-{uuid.uuid4().hex[:8]}."
KAFKA_PORT = int(KAFKA_URL.rpartition(":")[2].split("?")[0])
# The logins `canopy infra up` wrote for the broker the tests use (read before tests change CANOPY_HOME).
KAFKA_CREDENTIALS = Path(
    os.environ.get("TEST_KAFKA_CREDENTIALS")
    or Path(os.environ.get("CANOPY_HOME") or "~/.canopy").expanduser()
    / "infra"
    / "kafka"
    / "credentials.json"
)
AZURITE_CONNECTION_STRING = "UseDevelopmentStorage=true"
MQTT_URL = "mqtt://127.0.0.1:1883"
# The platform account `canopy infra up` generated for its Mosquitto (TEST_MQTT_ENV: another broker's).
MQTT_ENV = Path(
    os.environ.get("TEST_MQTT_ENV")
    or Path(os.environ.get("CANOPY_HOME") or "~/.canopy").expanduser() / "infra/mosquitto/platform.env"
)
DOCKER_SOCKET = "/var/run/docker.sock"
# The FerretDB binary `canopy infra up ferretdb` built (read before tests change CANOPY_HOME).
FERRETDB_BINARY = Path(
    os.environ.get("TEST_FERRETDB_BINARY")
    or Path(os.environ.get("CANOPY_HOME") or "~/.canopy").expanduser() / "infra/ferretdb/bin/ferretdb"
)

# Mailpit as `canopy infra up mailpit` runs it: SMTP and the web API (TEST_MAILPIT_*: another one's).
MAILPIT_SMTP_URL = os.environ.get("TEST_MAILPIT_SMTP_URL", "smtp://127.0.0.1:1025")
MAILPIT_WEB_URL = os.environ.get("TEST_MAILPIT_WEB_URL", "http://127.0.0.1:8025")


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
    """Point CANOPY_BUS_URL at the real broker, with its logins, in this session's topic prefix."""
    monkeypatch.setenv("CANOPY_BUS_URL", url)
    monkeypatch.setenv("CANOPY_TOPIC_PREFIX", KAFKA_TOPIC_PREFIX)
    for key, value in logins.environment().items():
        monkeypatch.setenv(key, value)


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


@dataclass(frozen=True)
class MqttBroker:
    """The real Mosquitto broker and the platform account that logs in to it."""

    url: str
    login: MqttLogin

    def clean_up(self, client_ids: Iterable[str], device_ids: Iterable[str] = ()) -> None:
        """Drop the persistent sessions and device accounts a test leaves on the shared broker."""
        for client_id in client_ids:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
            client.username_pw_set(self.login.username, self.login.password)
            client.connect(self.login.host, self.login.port)
            client.loop_start()
            time.sleep(0.2)
            client.disconnect()
            client.loop_stop()
        accounts = DynsecAccounts(self.login)
        for device_id in device_ids:
            accounts.remove(device_id)

    def settings(self) -> dict[str, str]:
        """The CANOPY_MQTT_* settings of a platform on this broker."""
        return {
            "CANOPY_MQTT_URL": self.url,
            "CANOPY_MQTT_USERNAME": self.login.username,
            "CANOPY_MQTT_PASSWORD": self.login.password,
        }


@pytest.fixture(scope="session")
def mqtt_broker() -> MqttBroker:
    """The real Mosquitto broker with the platform account `canopy infra up` wrote for it."""
    settings = read_env_file(MQTT_ENV)
    url = settings.get("CANOPY_MQTT_URL", MQTT_URL)
    login = MqttLogin.parse(
        url, settings.get("CANOPY_MQTT_USERNAME", ""), settings.get("CANOPY_MQTT_PASSWORD", "")
    )
    require("Mosquitto", port_open(login.host, login.port))
    require(f"Mosquitto's platform account ({MQTT_ENV})", bool(login.password))
    return MqttBroker(url, login)


@pytest.fixture(scope="session")
def mqtt_url(mqtt_broker: MqttBroker) -> str:
    """The address of the real Mosquitto broker."""
    return mqtt_broker.url


@pytest.fixture(scope="session")
def docker_socket() -> str:
    """The path of the running Docker Engine's socket."""
    require("Docker Engine", Path(DOCKER_SOCKET).is_socket())
    return DOCKER_SOCKET


@pytest.fixture(scope="session")
def ferretdb_binary() -> Path:
    """The FerretDB binary the node agents run per app instance with a database."""
    require("FerretDB (`canopy infra up ferretdb` builds it)", os.access(FERRETDB_BINARY, os.X_OK))
    return FERRETDB_BINARY


@dataclass(frozen=True)
class Mailpit:
    """The real Mailpit: its SMTP URL and a reader of its web API (messages by search query)."""

    smtp_url: str
    web_url: str

    def info(self) -> dict[str, Any] | None:
        """/api/v1/info, or None when Mailpit does not answer."""
        try:
            reply = requests.get(f"{self.web_url}/api/v1/info", timeout=2)
            return dict(reply.json()) if reply.ok else None
        except (requests.RequestException, ValueError):
            return None

    def search(self, query: str) -> list[dict[str, Any]]:
        """Summaries of the messages matching a Mailpit search query (e.g. 'to:"a@example.org"')."""
        reply = requests.get(f"{self.web_url}/api/v1/search", params={"query": query}, timeout=10)
        reply.raise_for_status()
        return list(reply.json()["messages"])

    def message(self, message_id: str) -> dict[str, Any]:
        """One message in full: headers' summary, Text, HTML."""
        reply = requests.get(f"{self.web_url}/api/v1/message/{message_id}", timeout=10)
        reply.raise_for_status()
        return dict(reply.json())

    def wait_for(self, query: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The full messages matching `query`, once there are at least `count` (oldest first)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.search(query)
            if len(found) >= count:
                return [self.message(summary["ID"]) for summary in reversed(found)]
            if time.monotonic() > deadline:
                subjects = [summary.get("Subject") for summary in found]
                raise AssertionError(
                    f"{count} message(s) matching {query!r} did not reach Mailpit in {timeout} s;"
                    f" found {subjects}"
                )
            time.sleep(0.2)


@pytest.fixture(scope="session")
def mailpit() -> Mailpit:
    """The real Mailpit `canopy infra up mailpit` runs (SMTP on 1025, web API on 8025)."""
    found = Mailpit(MAILPIT_SMTP_URL, MAILPIT_WEB_URL)
    require("Mailpit", found.info() is not None)
    return found


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
