"""The whole stack as containers: build the images, docker-compose up, a user's tour, Prometheus, down -v.

The stack runs as its own compose project on its own ports (a 28xxx range clear of the shared Kafka,
PostgreSQL, Mosquitto, Azurite, Mailpit and gateway), with an .env generated in a temporary folder. Its
node agent runs replicas and an app on the host's Docker Engine, and keeps the app's firewall exception
in the host's iptables; replicas are removed before `down -v`, which must leave no rule behind.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from platform_sdk._client import ApiClient

from bootstrap.images.compose_cli import ensure_compose
from bootstrap.images.compose_env import PORTS, write_env
from simulators import TYPES_DIR
from tests import app_run_helpers
from tests.deploy_helpers import IRIS_INPUT, IRIS_PACKAGE, REPO, settled, wait_for, zip_package

PORT_BASES = (28200, 28400, 28600, 28800)  # the first whose every port is free is used
IMAGES_TIMEOUT = 3600.0  # a cold `make images` on a loaded 2-core machine
HEALTHY_TIMEOUT = 420.0
# The first test's setup builds the images (cold: minutes) and brings the stack up.
pytestmark = pytest.mark.timeout(IMAGES_TIMEOUT + HEALTHY_TIMEOUT + 900)
COMPOSE_FILE = REPO / "docker-compose.yml"
LOCATION = "hyd/lab"
READING = {"temperature": 21.5}
# An app that asks the iris model (through the SDK, via the gateway) and reads its thermometer on each
# GET of its page: an answer proves the container reached the gateway through the agent's firewall.
APP_MANIFEST = {
    "name": "iris-thermometer",
    "version": "1.0.0",
    "entry": "page:serve",
    "page": {"port": 8000},
    "models": [{"name": "species", "ref": "iris"}],
    "devices": [{"name": "thermometer", "type": "TEMP"}],
    "python": "3.11",
    "resources": {"cpu": 0.25, "memory_mb": 128},
}
APP_PAGE = f"""
import json, os, traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from platform_sdk import get_sensor_data, model_call


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            found = {{"species": model_call("species", {IRIS_INPUT!r})["species"],
                      "reading": get_sensor_data("thermometer")}}
            status = 200
        except Exception:
            found, status = {{"error": traceback.format_exc()}}, 500
        data = json.dumps(found).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve():
    ThreadingHTTPServer(("0.0.0.0", int(os.environ["CANOPY_APP_PORT"])), Page).serve_forever()
"""


def _free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _port_base() -> int:
    """A port base whose every stack port is free on 127.0.0.1."""
    for base in PORT_BASES:
        if all(_free(base + offset) for offset in PORTS.values()):
            return base
    raise AssertionError(f"no free port range for the stack among {PORT_BASES}")


@dataclass
class Stack:
    """A running compose project: its name, .env values, compose command line and admin token."""

    project: str
    env: dict[str, str]
    command: list[str]
    logs: Path
    token: str = ""

    @property
    def api(self) -> str:
        """The gateway's URL."""
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    def compose(self, *args: str, timeout: float = 600) -> None:
        """Run docker-compose on this project; fail with its output when it fails."""
        with self.logs.open("ab") as log:
            result = subprocess.run(
                [*self.command, *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
            )
        assert result.returncode == 0, f"docker-compose {' '.join(args)} failed; see {self.logs}"

    @property
    def headers(self) -> dict[str, str]:
        """The administrator's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An API call as the administrator that must succeed."""
        return ApiClient(self.api, self.token, timeout=60).request(method, path, **kwargs)

    def remove_workloads(self) -> None:
        """Remove the replicas the stack's agent started on the engine (they are not in the project)."""
        client = docker.from_env()
        label = f"canopy.node={self.env['NODE_ID']}"
        for container in client.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)

    def down(self) -> None:
        """Remove every replica, then `docker-compose down -v`."""
        self.remove_workloads()
        self.compose("down", "-v", "--remove-orphans", "--timeout", "20")


def _containers(project: str) -> list[Any]:
    """Every container of a compose project, running or not."""
    label = f"com.docker.compose.project={project}"
    return list(docker.from_env().containers.list(all=True, filters={"label": label}))


def _all_healthy(project: str, services: int) -> bool:
    """Whether every service has its container, healthy (one-shot steps: exited with 0)."""
    containers = _containers(project)
    if len(containers) < services:
        return False
    for container in containers:
        state = container.attrs["State"]
        if container.labels.get("com.docker.compose.service") == "brokers":
            if state["Status"] != "exited" or state["ExitCode"] != 0:
                return False
        elif (state.get("Health") or {}).get("Status") != "healthy":
            return False
    return True


def _build_images(log: Path) -> None:
    """`make images` (its Python entry, in this venv)."""
    with log.open("ab") as out:
        built = subprocess.run(
            [sys.executable, "-m", "bootstrap.images"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=IMAGES_TIMEOUT,
        )
    assert built.returncode == 0, f"make images failed; see {log}"


@pytest.fixture(scope="module")
def stack(docker_socket: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The images built, the stack up with a fresh .env, every healthcheck passing; torn down after."""
    folder = tmp_path_factory.mktemp("compose")
    logs = folder / "compose.log"
    compose = ensure_compose()
    started = time.monotonic()
    _build_images(logs)
    print(f"images built in {time.monotonic() - started:.0f} s")
    env_file = folder / ".env"
    env = write_env(env_file, _port_base())
    project = f"canopy-e2e-{uuid.uuid4().hex[:8]}"
    command = [str(compose), "--env-file", str(env_file), "-p", project, "-f", str(COMPOSE_FILE)]
    running = Stack(project, env, command, logs)
    services = subprocess.run(
        [*command, "config", "--services"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    try:
        started = time.monotonic()
        running.compose("up", "-d")
        wait_for(lambda: _all_healthy(project, len(services)), HEALTHY_TIMEOUT, "every healthcheck", 2)
        print(f"stack healthy in {time.monotonic() - started:.0f} s")
        login = {"user": "admin", "password": env["ADMIN_PASSWORD"]}
        running.token = ApiClient(running.api).post("/api/v1/auth/login", json=login)["token"]
        yield running
    finally:
        running.down()


def _prometheus_count(stack: Stack, model_id: str) -> float:
    """The predictions Prometheus scraped from the model's replicas (0 until it has one)."""
    query = f'sum(canopy_model_requests_total{{model_id="{model_id}",route="/predict"}})'
    answer = requests.get(
        f"http://127.0.0.1:{stack.env['PROMETHEUS_PORT']}/api/v1/query", params={"query": query}, timeout=10
    ).json()
    assert answer["status"] == "success", answer
    results = answer["data"]["result"]
    return float(results[0]["value"][1]) if results else 0.0


@pytest.fixture(scope="module")
def iris(stack: Stack) -> str:
    """The iris example deployed with one replica (ready); its model id."""
    upload = stack.call("POST", "/api/v1/models", files={"file": ("package.zip", zip_package(IRIS_PACKAGE))})
    model_id: str = upload["id"]
    generation = stack.call("POST", f"/api/v1/models/{model_id}/deploy", json={"replicas": 1})["generation"]
    view = settled(ApiClient(stack.api, stack.token, timeout=60), model_id, generation, 900)
    assert view["status"] == "ready", view
    assert [replica["node_id"] for replica in view["replicas"]] == [stack.env["NODE_ID"]]
    return model_id


@pytest.fixture(scope="module")
def thermometer(stack: Stack) -> str:
    """A TEMP device registered at LOCATION that has posted READING over HTTP; its id."""
    spec = json.loads((TYPES_DIR / "TEMP.json").read_text())
    stack.call("POST", "/api/v1/device-types", json=spec)
    device = {"id": f"t-{uuid.uuid4().hex[:6]}", "type": "TEMP", "location": LOCATION, "transport": "http"}
    credential = stack.call("POST", "/api/v1/devices", json=device)["credential"]
    posted = requests.post(
        f"{stack.api}/api/v1/devices/{device['id']}/telemetry",
        json={"reading": READING},
        headers={"Authorization": f"Bearer {credential}"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    return device["id"]


def test_the_stacks_gateway_is_served_by_gunicorn(stack: Stack) -> None:
    served = requests.get(f"{stack.api}/portal/login", timeout=30)
    server = served.headers.get("Server", "")
    assert served.status_code == 200 and server.startswith("gunicorn"), served.headers


def test_a_model_deploys_as_a_docker_replica_predicts_and_prometheus_counts_it(
    stack: Stack, iris: str
) -> None:
    replica = docker.from_env().containers.list(filters={"label": f"canopy.model={iris}"})
    assert len(replica) == 1 and replica[0].labels["canopy.node"] == stack.env["NODE_ID"]
    for _ in range(3):
        answer = stack.call("POST", f"/api/v1/models/{iris}/predict", json=IRIS_INPUT)
        assert answer["outputs"]["species"] == "setosa", answer
    counted = wait_for(lambda: _prometheus_count(stack, iris) >= 3, 180, "Prometheus to scrape", 3)
    assert counted


def test_a_registered_device_posts_telemetry_that_reads_back(stack: Stack, thermometer: str) -> None:
    def latest() -> Any:
        return stack.call("GET", f"/api/v1/devices/{thermometer}/latest")["latest"]

    assert wait_for(latest, 60, "the reading to be the latest value")["reading"] == READING


def _gateway_exceptions(stack: Stack) -> list[str]:
    """The host's iptables rules (every chain) that let traffic in to the stack's gateway port."""
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, check=True).stdout
    return [rule for rule in rules.splitlines() if f"--dport {stack.env['GATEWAY_PORT']} " in f"{rule} "]


def _app_zip() -> bytes:
    """The iris-thermometer app package."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.json", json.dumps(APP_MANIFEST))
        archive.writestr("page.py", APP_PAGE)
    return buffer.getvalue()


def test_an_app_runs_as_a_docker_workload_uses_the_model_and_device_and_its_firewall_rule_goes_with_it(
    stack: Stack, iris: str, thermometer: str
) -> None:
    app_id = stack.call("POST", "/api/v1/apps", files={"file": ("app.zip", _app_zip())})["id"]
    instance_id = stack.call("POST", f"/api/v1/apps/{app_id}/instances", json={"location": LOCATION})["id"]
    generation = stack.call("POST", f"/api/v1/app-instances/{instance_id}/start")["generation"]
    view = app_run_helpers.settled(stack.api, stack.token, instance_id, generation, timeout=300)
    assert view["status"] == "ready", view
    (container,) = docker.from_env().containers.list(filters={"label": f"canopy.model={instance_id}"})
    assert (
        container.labels["canopy.node"] == stack.env["NODE_ID"] and container.labels["canopy.kind"] == "app"
    )
    bridge = container.labels["canopy.gateway"].rsplit(":", 1)[0]
    port = stack.env["GATEWAY_PORT"]
    assert _gateway_exceptions(stack) == [
        f"-A CANOPY-WORKLOADS -d {bridge}/32 -p tcp -m tcp --dport {port} -j ACCEPT"
    ]
    page = requests.get(f"{stack.api}/apps/{instance_id}/", headers=stack.headers, timeout=60)
    assert page.status_code == 200, page.text
    assert page.json() == {"species": "setosa", "reading": READING}
    stopped = stack.call("POST", f"/api/v1/app-instances/{instance_id}/stop")["generation"]
    view = app_run_helpers.settled(stack.api, stack.token, instance_id, stopped, timeout=120)
    assert view["status"] == "stopped", view
    assert _gateway_exceptions(stack) == []
    stopped = stack.call("POST", f"/api/v1/models/{iris}/undeploy")["generation"]
    assert settled(ApiClient(stack.api, stack.token), iris, stopped, 120)["status"] == "stopped"


def test_down_leaves_nothing_of_the_project_running(stack: Stack) -> None:
    stack.down()
    client = docker.from_env()
    label = {"label": f"com.docker.compose.project={stack.project}"}
    assert client.containers.list(all=True, filters=label) == []
    assert client.volumes.list(filters=label) == []
    assert client.networks.list(filters=label) == []
    assert client.containers.list(all=True, filters={"label": f"canopy.node={stack.env['NODE_ID']}"}) == []
    assert _gateway_exceptions(stack) == []
