"""A platform for fault injection: PostgreSQL, in-process control plane, agents as subprocesses.

The bus is the embedded SQLite one, or a private Kafka broker for the tests that stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import requests
from platform_sdk._client import ApiClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from canopy import devices
from canopy.bus.base import Record
from canopy.bus.typed import Subscriber
from canopy.config import load_config
from canopy.contracts import Envelope, topics
from canopy.contracts.notifications import NotificationRequest
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends, open_backends
from services.deployer.service import deployer_components
from services.device_manager.service import device_manager_components
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.heartbeat.service import heartbeat_components
from services.node_manager.service import node_manager_components
from simulators import TYPES_DIR
from tests.deploy_helpers import (
    IRIS_INPUT,
    IRIS_PACKAGE,
    REPO,
    listeners,
    port_of,
    settled,
    share_build_caches,
    zip_package,
)

# Short timeouts keep the tests quick; the bench measures the defaults.
HEAL_ENV = {
    "CANOPY_NODE_REPORT_INTERVAL": "0.5",
    "CANOPY_HEAL_BACKOFF": "0.5",
    "CANOPY_HEAL_RESTARTS": "3",
    "CANOPY_HEAL_NODE_TIMEOUT": "4",
    "CANOPY_HEAL_ALERT_TO": "ops@example.com",
}


@dataclass
class FaultPlatform:
    """The running platform: its API, a developer's token, its backends, home and agent processes."""

    api: str
    token: str
    admin_token: str
    backends: Backends
    home: Path
    run: str
    env: dict[str, str]
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An authenticated API call that must succeed."""
        return ApiClient(self.api, self.token, timeout=30).request(method, path, **kwargs)

    def start_agent(self, name: str, join: bool = True) -> str:
        """Start (or restart) the agent `name` as a subprocess with the process runtime; its node id."""
        node_id = f"f-{self.run}-{name}"
        args = [sys.executable, "-m", "services.node_agent", "--node-id", node_id, "--runtime", "process"]
        if join:
            token = ApiClient(self.api, self.admin_token).post("/api/v1/nodes", json={"node_id": node_id})
            args += ["--join-token", token["join_token"]]
        log = (self.home / f"agent-{name}.log").open("ab")
        self.agents[name] = subprocess.Popen(
            args, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return node_id

    def deploy_iris(self, replicas: int = 1, package: bytes | None = None) -> tuple[str, dict[str, Any]]:
        """Upload and deploy a model; its id and final deployment view."""
        upload = {"file": ("p.zip", package or iris_zip())}
        model_id: str = self.call("POST", "/api/v1/models", files=upload)["id"]
        wanted = {"replicas": replicas}
        generation = self.call("POST", f"/api/v1/models/{model_id}/deploy", json=wanted)["generation"]
        return model_id, self.settle(model_id, generation)

    def settle(self, model_id: str, generation: int, timeout: float = 300) -> dict[str, Any]:
        """The deployment view once `generation` finished."""
        api = ApiClient(self.api, self.token, timeout=30)
        found: dict[str, Any] = settled(api, model_id, generation, timeout, interval=0.2)
        return found

    def notifications(self) -> list[NotificationRequest]:
        """Every notification request published so far."""
        found: list[NotificationRequest] = []

        def keep(envelope: Envelope, _record: Record) -> bool:
            if isinstance(envelope.message, NotificationRequest):
                found.append(envelope.message)
            return False

        self.read(topics.NOTIFICATIONS, keep, 0.0)
        return found

    def read(self, topic: str, keep: Callable[[Envelope, Record], bool], timeout: float) -> bool:
        """Hand every message on `topic` to `keep` until it answers True (True) or the bus stays quiet.

        Reading goes on for `timeout` seconds at least (a Kafka group takes a moment to join).
        """
        done = False

        def handle(envelope: Envelope, record: Record) -> None:
            nonlocal done
            done = done or keep(envelope, record)

        reader = Subscriber(self.backends.bus, f"t-{uuid.uuid4().hex[:8]}", [topic], handle)
        deadline = time.monotonic() + timeout
        try:
            while not done and (reader.run_once(0.5) or time.monotonic() < deadline):
                pass
        finally:
            reader.close()
        return done

    def add_device(self, type_name: str = "TEMP") -> tuple[str, str]:
        """Register a device of one of the simulators' types over HTTP; its id and its credential."""
        device_id = f"d-{self.run}-{uuid.uuid4().hex[:6]}"
        with self.backends.store.session() as session:
            spec = devices.parse_type(json.loads((TYPES_DIR / f"{type_name}.json").read_text()))
            devices.register_type(session, spec)
            document = {"id": device_id, "type": type_name, "location": "faults/lab", "transport": "http"}
            credential = devices.create_device(session, devices.parse_device(document)).credential
        return device_id, credential

    def view(self, model_id: str) -> dict[str, Any]:
        """The deployment view now."""
        found: dict[str, Any] = self.call("GET", f"/api/v1/models/{model_id}/deployment")
        return found


def iris_zip() -> bytes:
    """The iris example under a version of its own (a name and version are uploaded once per owner)."""
    manifest = json.loads((IRIS_PACKAGE / "model.json").read_text())
    manifest["version"] = f"1.0.{uuid.uuid4().int % 10**6}"
    return zip_package(IRIS_PACKAGE, {"model.json": json.dumps(manifest)})


def predicts(endpoint: str) -> bool:
    """Whether a replica answers a prediction with 200."""
    try:
        return requests.post(f"{endpoint}/predict", json=IRIS_INPUT, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def server_process(agent: subprocess.Popen[bytes], endpoint: str) -> psutil.Process:
    """The process of the agent's tree listening on the endpoint's port (the model server)."""
    found = listeners(agent.pid).get(port_of(endpoint))
    if found is None:
        raise AssertionError(f"no process of agent {agent.pid} listens on {endpoint}")
    return found


def spare_port(platform: FaultPlatform, model_id: str, endpoint: str, agent: str = "a") -> int | None:
    """The port of the model's warm spare beside its replica at `endpoint` on an agent, once it listens."""
    try:
        servers = {port: p.cmdline() for port, p in listeners(platform.agents[agent].pid).items()}
    except psutil.Error:
        return None  # a process ended while it was looked at
    spares = [port for port, argv in servers.items() if model_id in argv and port != port_of(endpoint)]
    return spares[0] if len(spares) == 1 else None


def kill(agent: subprocess.Popen[bytes], endpoint: str, sig: signal.Signals) -> None:
    """Send a signal to the model server behind an endpoint."""
    os.kill(server_process(agent, endpoint).pid, sig)


@contextmanager
def private_schema(postgres_url: str, run: str) -> Iterator[str]:
    """A PostgreSQL URL whose connections use a fresh schema, dropped afterwards."""
    schema = f"faults_{run}"
    # pre-ping: the server may have been restarted in between (the PostgreSQL restart test)
    admin = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    in_schema = {"options": f"-csearch_path={schema}"}
    try:
        yield (
            make_url(postgres_url)
            .set(drivername="postgresql")
            .update_query_dict(in_schema)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def fault_platform(
    home: Path,
    postgres_url: str | None = None,
    settings: dict[str, str] | None = None,
    bus: dict[str, str] | None = None,
) -> Iterator[FaultPlatform]:
    """The control plane here (device manager included); on a fresh PostgreSQL schema if given.

    `settings` are CANOPY_* overrides (the tests' short timeouts by default); `bus` the settings of
    another bus than the embedded one (a private Kafka broker's URL and logins).
    """
    run = uuid.uuid4().hex[:8]
    share_build_caches(home)
    with contextlib.ExitStack() as stack:
        db = {"CANOPY_DB_URL": stack.enter_context(private_schema(postgres_url, run))} if postgres_url else {}
        env = {
            "CANOPY_HOME": str(home),
            "CANOPY_BUS_URL": f"sqlite:///{home}/bus.db",
            "CANOPY_BLOB_URL": f"file://{home}/blobs",
            **(bus or {}),
            **db,
            **(HEAL_ENV if settings is None else settings),
        }
        yield stack.enter_context(_running(home, run, env))


@contextmanager
def _running(home: Path, run: str, env: dict[str, str]) -> Iterator[FaultPlatform]:
    """The control plane running in this process on the environment `env`."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    backends = open_backends(load_config())
    with backends.store.session() as session:
        user = accounts.create_user(session, f"dev-{run}", Role.AI_DEVELOPER, "password-123")
        token = accounts.issue_token(session, user, timedelta(hours=2)).secret
        operator = accounts.create_user(session, f"admin-{run}", Role.PLATFORM_ADMIN, "password-123")
        admin_token = accounts.issue_token(session, operator, timedelta(hours=2)).secret
    gateway = HttpServer(create_app(backends), "127.0.0.1", 0)
    components = [
        gateway,
        *node_manager_components(backends),
        *deployer_components(backends),
        *heartbeat_components(backends),
        *device_manager_components(backends),
    ]
    service = Service("faults", components)
    service.start()
    api = f"http://127.0.0.1:{gateway.port}"
    # an agent logs in to Kafka with the login it was given at join, never the platform's
    shared = {key: value for key, value in os.environ.items() if not key.startswith("CANOPY_KAFKA_")}
    agent_env = {**shared, "CANOPY_API_URL": api}
    platform = FaultPlatform(api, token, admin_token, backends, home, run, agent_env)
    try:
        yield platform
    finally:
        service.stop()  # first: the agents' last "stopped" events must not set off healing
        for agent in platform.agents.values():
            if agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=20)
        backends.close()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
