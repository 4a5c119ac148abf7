"""Models end to end on Kafka, PostgreSQL, Azurite and Docker with three agents of different loads."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import pytest
from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bootstrap.infra.kafka.credentials import KafkaCredentials
from canopy.config import load_config
from canopy.errors import ValidationFailed
from canopy.roles import Role
from canopy.runtime import Service
from canopy.runtime.backends import Backends, open_backends
from canopy.workloads.base_images import build_base_image
from canopy.workloads.wheels import choose_python
from services.deployer.service import deployer_components
from services.gateway import accounts
from services.gateway.app import create_app
from services.gateway.server import HttpServer
from services.node_manager.service import node_manager_components
from tests.deploy_helpers import (
    IRIS_INPUT,
    IRIS_PACKAGE,
    REPO,
    failing_hook_package,
    model_containers,
    settled,
    share_build_caches,
    wait_for,
    zip_package,
)

LEGACY_PACKAGE = REPO / "examples" / "models" / "legacy-weather" / "package"
LEGACY_2022_PACKAGE = REPO / "examples" / "models" / "legacy-weather-2022" / "package"
# name -> (labels, simulated CPU,MEMORY load): b is the least-loaded edge node, c is idler but not edge.
AGENTS = {"a": ("zone=edge", "70,40"), "b": ("zone=edge", "20,20"), "c": ("zone=core", "5,5")}


@dataclass
class Platform:
    """The running platform: API URL, a developer token, the run id and the agents' node ids."""

    api: str
    token: str
    run: str
    nodes: dict[str, str]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """An authenticated API call that must succeed."""
        return ApiClient(self.api, self.token, timeout=30).request(method, path, **kwargs)

    def upload(self, package: bytes) -> str:
        """Upload a package zip; return the model id."""
        model_id: str = self.call("POST", "/api/v1/models", files={"file": ("package.zip", package)})["id"]
        return model_id

    def settle(self, reply: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
        """Wait for a deploy/undeploy/scale request to finish; return the deployment view."""
        api = ApiClient(self.api, self.token, timeout=30)
        result: dict[str, Any] = settled(api, reply["model_id"], reply["generation"], timeout)
        return result


def _schema_url(server_url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use one schema."""
    url = (
        make_url(server_url)
        .set(drivername="postgresql")
        .update_query_dict({"options": f"-csearch_path={schema}"})
    )
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def platform(
    kafka_url: str,
    kafka_logins: KafkaCredentials,
    postgres_url: str,
    azurite_connection_string: str,
    docker_socket: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Platform]:
    """Gateway, node manager and deployer in this process; three docker agents as subprocesses.

    Each agent joins as `canopy node add` + `canopy agent --join-token` would: with its own key and
    its own Kafka login, never the platform's.
    """
    for python in ("3.11", "3.9"):
        build_base_image(python, Path(load_config().rootfs_dir))  # a no-op when the image is cached
    run = uuid.uuid4().hex[:8]
    home = tmp_path_factory.mktemp("canopy-e2e")
    share_build_caches(home)
    schema = f"e2e_{run}"
    admin = create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    env = {
        "CANOPY_HOME": str(home),
        "CANOPY_BUS_URL": kafka_url,
        "CANOPY_DB_URL": _schema_url(postgres_url, schema),
        "CANOPY_BLOB_URL": f"azure://e2e-{run}",
        "CANOPY_AZURE_CONNECTION_STRING": azurite_connection_string,
        "CANOPY_LOG_LEVEL": "INFO",
        **kafka_logins.environment(),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    backends: Backends = open_backends(load_config())
    with backends.store.session() as session:
        user = accounts.create_user(session, "e2e-dev", Role.AI_DEVELOPER, "password-123")
        token = accounts.issue_token(session, user, timedelta(hours=2)).secret
        operator = accounts.create_user(session, "e2e-admin", Role.PLATFORM_ADMIN, "password-123")
        admin_token = accounts.issue_token(session, operator, timedelta(hours=2)).secret
    gateway = HttpServer(create_app(backends), "127.0.0.1", 0)
    service = Service("e2e", [gateway, *node_manager_components(backends), *deployer_components(backends)])
    service.start()
    api = f"http://127.0.0.1:{gateway.port}"
    nodes = {name: f"e2e-{run}-{name}" for name in AGENTS}
    join_tokens = {
        name: ApiClient(api, admin_token).post("/api/v1/nodes", json={"node_id": node_id})["join_token"]
        for name, node_id in nodes.items()
    }
    agent_env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("CANOPY_KAFKA_")},
        "CANOPY_API_URL": api,
    }
    agents = [
        subprocess.Popen(
            [
                *(
                    sys.executable,
                    "-m",
                    "services.node_agent",
                    "--node-id",
                    nodes[name],
                    "--runtime",
                    "docker",
                    "--join-token",
                    join_tokens[name],
                ),
                *("--labels", f"{labels},run={run}", "--simulated-load", load),
            ],
            cwd=REPO,
            env=agent_env,
            stdout=(home / f"agent-{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, (labels, load) in AGENTS.items()
    ]
    platform = Platform(api, token, run, nodes)
    try:
        wait_for(lambda: _registered(platform) >= 3, 60, "three agents to report")
        yield platform
    finally:
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(timeout=20)
        service.stop()
        backends.close()
        client = docker.DockerClient(base_url=f"unix://{docker_socket}")
        for node_id in nodes.values():
            for container in client.containers.list(all=True, filters={"label": f"canopy.node={node_id}"}):
                container.remove(force=True)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _registered(platform: Platform) -> int:
    """How many of this run's agents the node registry knows."""
    nodes = platform.call("GET", "/api/v1/nodes")["nodes"]
    return sum(1 for node in nodes if node["node_id"] in platform.nodes.values())


def _containers(model_id: str) -> list[Any]:
    """Every container (running or not) of a model."""
    return model_containers(docker.from_env(), model_id)


@pytest.fixture(scope="module")
def iris(platform: Platform) -> str:
    """The sklearn example, uploaded once."""
    return platform.upload(zip_package(IRIS_PACKAGE))


def test_a_replica_lands_on_the_least_loaded_matching_node(platform: Platform, iris: str) -> None:
    labels = {"zone": "edge", "run": platform.run}
    reply = platform.call(
        "POST", f"/api/v1/models/{iris}/deploy", json={"replicas": 1, "node_labels": labels}
    )
    view = platform.settle(reply)
    assert view["status"] == "ready", view
    assert view["nodes"] == [platform.nodes["b"]]


def test_scaling_to_two_spreads_over_two_nodes(platform: Platform, iris: str) -> None:
    view = platform.settle(platform.call("POST", f"/api/v1/models/{iris}/scale", json={"replicas": 2}))
    assert view["status"] == "ready", view
    assert sorted(view["nodes"]) == sorted([platform.nodes["a"], platform.nodes["b"]])
    assert len(view["endpoints"]) == 2


def test_workload_containers_are_isolated(platform: Platform, iris: str) -> None:
    containers = _containers(iris)
    assert len(containers) == 2
    for container in containers:
        host = container.attrs["HostConfig"]
        assert host["Privileged"] is False and host["CapDrop"] == ["ALL"]
        assert host["ReadonlyRootfs"] is True and "no-new-privileges" in host["SecurityOpt"]
        assert host["Memory"] > 0 and host["PidsLimit"] > 0
        assert (host["CpuQuota"], host["CpuPeriod"]) == (50_000, 100_000)  # held to 0.5 once ready
        assert "/tmp" in host["Tmpfs"] and host["NetworkMode"] != "host"
        assert container.attrs["Config"]["User"] == "10001:10001"
        bindings = [b for port in host["PortBindings"].values() for b in port]
        assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings)
        assert not any("docker.sock" in str(mount) for mount in container.attrs["Mounts"])


def test_model_call_keeps_answering_after_a_replica_is_killed(platform: Platform, iris: str) -> None:
    client = ModelClient(ApiClient(platform.api, platform.token))
    assert client.call(iris, IRIS_INPUT, timeout=10)["species"] == "setosa"
    victim = _containers(iris)[0]
    subprocess.run(["docker", "kill", victim.name], check=True, capture_output=True)
    answers = [client.call(iris, IRIS_INPUT, timeout=10)["species"] for _ in range(20)]
    assert answers == ["setosa"] * 20
    endpoints = lambda: platform.call("GET", f"/api/v1/models/{iris}/endpoints")["endpoints"]  # noqa: E731
    wait_for(lambda: len(endpoints()) == 1, 20, "the dead replica to leave the endpoints")


def test_undeploy_leaves_no_container_behind(platform: Platform, iris: str) -> None:
    view = platform.settle(platform.call("POST", f"/api/v1/models/{iris}/undeploy"))
    assert view["status"] == "stopped" and view["replicas"] == []
    assert _containers(iris) == []
    assert platform.call("GET", f"/api/v1/models/{iris}/endpoints")["endpoints"] == []


def test_the_legacy_package_deploys_and_predicts(platform: Platform) -> None:
    model_id = platform.upload(zip_package(LEGACY_PACKAGE))
    labels = {"run": platform.run}
    view = platform.settle(
        platform.call("POST", f"/api/v1/models/{model_id}/deploy", json={"node_labels": labels})
    )
    assert view["status"] == "ready", view
    answer = ModelClient(ApiClient(platform.api, platform.token)).call(
        model_id, {"perc": 4.0, "temp_max": 12.0}
    )
    assert str(answer["output"]).lower() in ("drizzle", "fog", "rain", "snow", "sun"), answer
    platform.settle(platform.call("POST", f"/api/v1/models/{model_id}/undeploy"))
    assert _containers(model_id) == []


def _installed(container: Any) -> dict[str, str]:
    """Every distribution installed in a workload container's environment, by normalised name."""
    script = (
        "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
    )
    code, output = container.exec_run(["/opt/venv/bin/python", "-c", script])
    assert code == 0, output
    pairs = [line.split() for line in output.decode().splitlines() if line.strip()]
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def test_the_original_2022_weather_model_runs_on_python_3_9_with_exactly_its_pins(platform: Platform) -> None:
    model_id = platform.upload(zip_package(LEGACY_2022_PACKAGE))
    labels = {"run": platform.run}
    view = platform.settle(
        platform.call("POST", f"/api/v1/models/{model_id}/deploy", json={"node_labels": labels}), timeout=900
    )
    assert view["status"] == "ready", view
    answer = ModelClient(ApiClient(platform.api, platform.token)).call(
        model_id, {"perc": 0.5, "temp_max": 12}
    )
    assert answer == {"output": "Drizzle"}
    (container,) = _containers(model_id)
    code, version = container.exec_run(
        ["/opt/venv/bin/python", "-c", "import sys; print(sys.version_info[:2])"]
    )
    assert (code, version.decode().strip()) == (0, "(3, 9)")
    pins = dict(
        line.lower().split("==") for line in (LEGACY_2022_PACKAGE / "requirements.txt").read_text().split()
    )
    installed = _installed(container)
    assert {name: installed.get(name) for name in pins} == pins
    venv_tools = {"pip", "setuptools", "pkg-resources"}  # what `python3 -m venv` puts in on Debian 11
    assert set(installed) - set(pins) <= venv_tools, "the platform added requirements of its own"
    platform.settle(platform.call("POST", f"/api/v1/models/{model_id}/undeploy"))


def test_a_hook_failing_in_a_container_is_reported_with_its_logs(platform: Platform) -> None:
    model_id = platform.upload(failing_hook_package())
    labels = {"run": platform.run}
    view = platform.settle(
        platform.call("POST", f"/api/v1/models/{model_id}/deploy", json={"node_labels": labels})
    )
    assert view["status"] == "failed", view
    assert "the hook exploded at load" in "\n".join(view["logs"]), view["logs"]
    starting = min(datetime.fromisoformat(e["at"]) for e in view["events"] if e["stage"] == "starting")
    failed = max(datetime.fromisoformat(e["at"]) for e in view["events"] if e["stage"] == "failed")
    assert (failed - starting).total_seconds() < 30
    assert _containers(model_id) == [] and view["replicas"] == []


def test_pins_choose_the_python_that_has_their_wheels(tmp_path: Path, platform: Platform) -> None:
    python, _ = choose_python(["numpy==1.22.4"], ["3.11", "3.9"], tmp_path, private=tmp_path)
    assert python == "3.9"  # numpy 1.22 has wheels for 3.8-3.10 only; Debian 11 gives 3.9
    with pytest.raises(ValidationFailed, match=r"numpy==1\.22\.4"):
        choose_python(["numpy==1.22.4", "scikit-learn==1.9.1"], ["3.11", "3.9"], tmp_path, private=tmp_path)
