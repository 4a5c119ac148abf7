"""The docker runtime: hardened containers (non-root, no capabilities, read-only root, limits, own net)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import docker
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from canopy.apps.database import NodeDatabases
from canopy.apps.database_plan import WORKLOAD_DATABASE_DIR, DatabasePlan
from canopy.contracts.deploy import ProcessState, WorkloadSpec
from canopy.logs.workload import WorkloadOutput
from canopy.workloads.cgroups import CPU_PERIOD_US
from canopy.workloads.databases import WorkloadDatabases
from canopy.workloads.docker_network import (
    GATEWAY_LABEL,
    NETWORK,
    allow_gateway,
    bridge_address,
    ensure_network,
    gateway_lock,
    release_gateway,
)
from canopy.workloads.host_paths import HostPaths
from canopy.workloads.launch import app_variables, has_endpoint, launch_command
from canopy.workloads.runtime import Adopted, Runtime, tail

CONTAINER_PORT = 8000
MODEL_DIR = "/opt/model"  # where the package is bound read-only
SDK_DIR = "/opt/sdk"  # where the SDK bundle is bound read-only (the PYTHONPATH entry)
PYTHON = "/opt/venv/bin/python"  # the dependencies image's virtualenv (deploy/deps.Dockerfile)
WORKLOAD_USER = "10001:10001"
WORKLOAD_GID = 10001
PIDS_LIMIT = 256
LABEL = "canopy.workload"
CPU_LABEL = "canopy.cpu"  # the CPU limit a container is held to once it has started
log = logging.getLogger(__name__)


def container_name(workload_id: str) -> str:
    """The container name of a workload."""
    return f"canopy-{workload_id}"


def container_port(spec: WorkloadSpec) -> int:
    """The port the workload serves on inside its container: the model server's, or the app page's."""
    return spec.page_port if spec.kind == "app" else CONTAINER_PORT


def cpu_limit(cpu: float) -> dict[str, int]:
    """A CFS quota of `cpu` cores: unlike NanoCpus, `docker update` can change it on a running container."""
    return {"cpu_period": CPU_PERIOD_US, "cpu_quota": max(1000, int(cpu * CPU_PERIOD_US))}


def starting_cpu(cpu: float, engine_cpus: int) -> float:
    """The CPU a container may use while it starts: ceil(cpu) cores within the engine's, never below cpu."""
    return max(cpu, min(math.ceil(cpu), engine_cpus))


def hardening(spec: WorkloadSpec, cpu: float | None = None) -> dict[str, object]:
    """The isolation settings every workload container gets (never relaxed by the manifest).

    `cpu` is the CPU limit to start with, when not the spec's own.
    """
    published = {f"{container_port(spec)}/tcp": ("127.0.0.1", None)} if has_endpoint(spec) else {}
    return {
        "user": WORKLOAD_USER,
        "privileged": False,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
        "mem_limit": f"{spec.resources.memory_mb}m",
        "memswap_limit": f"{spec.resources.memory_mb}m",
        **cpu_limit(spec.resources.cpu if cpu is None else cpu),
        "pids_limit": PIDS_LIMIT,
        "ports": published,
        "network": NETWORK,
    }


WORKLOAD_ENV = {
    "PYTHONPATH": SDK_DIR,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "HOME": "/tmp",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def read_only_binds(
    spec: WorkloadSpec, database_dir: str = "", to_host: Callable[[str], str] = str
) -> dict[str, dict[str, str]]:
    """The host folders a container sees, all read-only: the package, the SDK, its database's socket."""
    targets = {spec.package_dir: MODEL_DIR, spec.sdk_dir: SDK_DIR}
    if database_dir:
        targets[database_dir] = WORKLOAD_DATABASE_DIR
    return {to_host(source): {"bind": target, "mode": "ro"} for source, target in targets.items()}


def _endpoint(container: Container) -> str:
    """The 127.0.0.1 URL the container's served port is published on, or ''."""
    port = container.labels.get("canopy.port", str(CONTAINER_PORT))
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    return f"http://127.0.0.1:{bindings[0]['HostPort']}" if bindings else ""


def _hold_to_limit(container: Container) -> None:
    """Lower a container's CPU quota to the limit in its canopy.cpu label (none: left as it is)."""
    if CPU_LABEL not in container.labels:
        return
    try:
        container.update(**cpu_limit(float(container.labels[CPU_LABEL])))
    except DockerException as exc:
        log.warning("could not lower the CPU limit of %s (%s)", container.name, exc)


class DockerRuntime(Runtime):
    """Runs each workload as a container of its dependencies image, published on 127.0.0.1 only."""

    name = "docker"
    watch_seconds = 1.0  # each check asks the Docker Engine

    def __init__(
        self,
        node_id: str,
        base_url: str = "unix:///var/run/docker.sock",
        gateway_url: str = "",
        databases: NodeDatabases | None = None,
        output: WorkloadOutput | None = None,
    ) -> None:
        self.node_id = node_id
        self.output = output  # each workload's lines also go to the logger, when given
        self._followers: dict[str, threading.Thread] = {}
        self.client = docker.DockerClient(base_url=base_url, timeout=30)
        self.host_paths = HostPaths(self.client)  # bind sources seen from the engine, if we run in it
        self.gateway_url = gateway_url
        self.databases = WorkloadDatabases(databases)
        self._engine_cpus: int | None = None  # the engine's CPU count, asked at the first start

    def _gateway_on_bridge(self) -> tuple[str, int]:
        """The address and port a container reaches the gateway on: the bridge's, with the gateway's port."""
        return bridge_address(self.client), urlsplit(self.gateway_url).port or 80

    def _container(self, workload_id: str) -> Container | None:
        """The workload's container, or None."""
        try:
            return self.client.containers.get(container_name(workload_id))
        except NotFound:
            return None

    def start(self, workload_id: str, spec: WorkloadSpec, generation: int) -> str:
        """Start the container (or reuse it while it runs) and return its published endpoint."""
        container = self._container(workload_id)
        if container is not None and container.status != "running":
            container.remove(force=True)
            container = None
        if container is None:
            try:
                container = self._run(workload_id, spec, generation)
            except BaseException:
                self.databases.stop(workload_id)
                raise
            self._follow(container, spec.kind, spec.model_id, since=None)
        elif spec.database:
            self.databases.start(workload_id, spec, WORKLOAD_GID)
        container.reload()
        endpoint = _endpoint(container)
        if not endpoint and has_endpoint(spec):
            raise RuntimeError(f"container {container.name} published no port: {self.logs(workload_id)}")
        return endpoint

    def _run(self, workload_id: str, spec: WorkloadSpec, generation: int) -> Container:
        """Run the workload's container, its instance's database (bound read-only) started first."""
        if not spec.package_dir or not spec.sdk_dir:
            raise ValueError("a docker workload spec needs the package and SDK folders to bind")
        database = self.databases.start(workload_id, spec, WORKLOAD_GID)
        volumes = read_only_binds(spec, str(database.socket_dir) if database else "", self.host_paths)
        ensure_network(self.client)
        if spec.kind != "app":
            return self._run_container(workload_id, spec, generation, volumes, "", database)
        with gateway_lock():  # see release_gateway
            address, port = self._gateway_on_bridge()
            allow_gateway(address, port)
            return self._run_container(workload_id, spec, generation, volumes, f"{address}:{port}", database)

    def _run_container(
        self,
        workload_id: str,
        spec: WorkloadSpec,
        generation: int,
        volumes: dict[str, dict[str, str]],
        gateway: str,
        database: DatabasePlan | None,
    ) -> Container:
        """Run the hardened container; an app's is labelled with the gateway exception it relies on."""
        port = container_port(spec)
        api = f"http://{gateway}" if gateway else ""
        if self._engine_cpus is None:
            self._engine_cpus = int(self.client.info()["NCPU"])
        return self.client.containers.run(
            spec.image,
            command=launch_command(spec, PYTHON, MODEL_DIR, "0.0.0.0", port),
            name=container_name(workload_id),
            detach=True,
            working_dir=MODEL_DIR,
            labels={
                LABEL: workload_id,
                "canopy.node": self.node_id,
                "canopy.model": spec.model_id,
                "canopy.kind": spec.kind,
                "canopy.generation": str(generation),
                "canopy.port": str(port),
                "canopy.database": "1" if database else "0",
                CPU_LABEL: str(spec.resources.cpu),
                **({GATEWAY_LABEL: gateway} if gateway else {}),
            },
            environment={
                **WORKLOAD_ENV,
                **app_variables(spec, api, port),
                **(database.workload_env if database else {}),
            },
            volumes=volumes,
            **hardening(spec, starting_cpu(spec.resources.cpu, self._engine_cpus)),  # type: ignore[arg-type]
        )

    def settle(self, workload_id: str) -> None:
        """Hold a container that started on whole cores to its CPU limit (its canopy.cpu label)."""
        container = self._container(workload_id)
        if container is not None:
            _hold_to_limit(container)

    keeps_workloads = True

    def adopt(self) -> list[Adopted]:
        """The node's running workload containers, which outlive an agent restart (databases restarted)."""
        running = self.client.containers.list(filters={"label": f"canopy.node={self.node_id}"})
        for container in running:
            _hold_to_limit(container)  # the agent may have stopped while the container started
            if {LABEL, "canopy.model"} <= set(container.labels):
                kind = container.labels.get("canopy.kind", "model")
                self._follow(container, kind, container.labels["canopy.model"], since=int(time.time()))
            if container.labels.get("canopy.database") == "1" and LABEL in container.labels:
                workload_id, instance_id = container.labels[LABEL], container.labels["canopy.model"]
                self.databases.resume(workload_id, instance_id, WORKLOAD_GID)
        return [
            Adopted(
                str(c.labels[LABEL]),
                str(c.labels["canopy.model"]),
                int(c.labels["canopy.generation"]),
                endpoint,
            )
            for c in running
            if {LABEL, "canopy.model", "canopy.generation"} <= set(c.labels)
            and ((endpoint := _endpoint(c)) or c.labels.get("canopy.port") == "0")
        ]

    def _follow(self, container: Container, kind: str, model_id: str, since: int | None) -> None:
        """Ship the container's output (from `since`, else from its start) on a thread, once per container."""
        if self.output is None:
            return
        self._followers = {key: thread for key, thread in self._followers.items() if thread.is_alive()}
        if container.id in self._followers:
            return
        lines = self.output.lines_of(kind, model_id)

        def pump() -> None:
            try:
                for chunk in container.logs(stream=True, follow=True, since=since):
                    lines.feed(chunk)
            except DockerException:
                pass  # the container went away: its output has ended
            finally:
                lines.close()

        thread = threading.Thread(target=pump, name=f"log-{container.name}", daemon=True)
        self._followers[container.id or ""] = thread
        thread.start()

    def stop(self, workload_id: str) -> None:
        """Remove the container, running or not; idempotent."""
        container = self._container(workload_id)
        if container is not None:
            container.remove(force=True)
            if gateway := container.labels.get(GATEWAY_LABEL, ""):
                release_gateway(self.client, gateway)
        self.databases.stop(workload_id)

    def running(self, workload_id: str) -> bool:
        """Whether the container runs."""
        container = self._container(workload_id)
        return container is not None and container.status == "running"

    def process_state(self, workload_id: str) -> ProcessState:
        """running, stopped while the container is paused (frozen), else exited."""
        container = self._container(workload_id)
        status = "" if container is None else container.status
        return "running" if status == "running" else "stopped" if status == "paused" else "exited"

    def logs(self, workload_id: str, lines: int = 20) -> list[str]:
        """The container's last log lines."""
        container = self._container(workload_id)
        if container is None:
            return []
        try:
            return tail(container.logs(tail=lines), lines)
        except DockerException:
            return []

    def workloads(self) -> list[str]:
        """Workload containers of this node."""
        found = self.client.containers.list(all=True, filters={"label": f"canopy.node={self.node_id}"})
        return [str(c.labels.get(LABEL)) for c in found if c.labels.get(LABEL)]

    def purge(self, instance_id: str) -> None:
        """Drop the data a deleted app instance left on this node."""
        self.databases.remove(instance_id)

    def close(self) -> None:
        """Stop the instance databases (adopt restarts them), drop an unused gateway exception, close."""
        self.databases.close()
        if self.gateway_url:
            try:
                address, port = self._gateway_on_bridge()
                release_gateway(self.client, f"{address}:{port}")
            except (DockerException, RuntimeError):
                pass  # no workload network (no app ever ran here) or no engine: nothing to release
        self.client.close()
