"""The docker runtime: hardened containers (non-root, no capabilities, read-only root, limits, own net)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import docker
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from canopy.apps.database import NodeDatabases
from canopy.apps.database_plan import DatabasePlan
from canopy.contracts.deploy import ProcessState, WorkloadSpec
from canopy.logs.workload import WorkloadOutput
from canopy.workloads.databases import WorkloadDatabases
from canopy.workloads.docker_hardening import (
    CONTAINER_PORT,
    CPU_LABEL,
    LABEL,
    MODEL_DIR,
    PYTHON,
    WORKLOAD_ENV,
    WORKLOAD_GID,
    container_name,
    container_port,
    cpu_limit,
    hardening,
    read_only_binds,
    starting_cpu,
)
from canopy.workloads.docker_network import (
    GATEWAY_LABEL,
    allow_gateway,
    bridge_address,
    ensure_network,
    gateway_lock,
    release_gateway,
)
from canopy.workloads.docker_pool import SLOT_LABEL, Slot, container_facts
from canopy.workloads.docker_warm import ContainerPool
from canopy.workloads.host_paths import HostPaths
from canopy.workloads.launch import app_variables, has_endpoint, launch_command
from canopy.workloads.runtime import Adopted, Runtime, tail

log = logging.getLogger(__name__)


def _endpoint(container: Container) -> str:
    """The 127.0.0.1 URL the container's served port is published on, or ''."""
    port = container.labels.get("canopy.port", str(CONTAINER_PORT))
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    return f"http://127.0.0.1:{bindings[0]['HostPort']}" if bindings else ""


def _hold_to_limit(container: Container) -> None:
    """Lower a container's CPU quota to the limit in its canopy.cpu fact (none: left as it is)."""
    facts = container_facts(container.labels)
    if CPU_LABEL not in facts:
        return
    try:
        container.update(**cpu_limit(float(facts[CPU_LABEL])))
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
        pool_dir: Path | None = None,
        client: docker.DockerClient | None = None,
    ) -> None:
        """With `pool_dir` (the pool containers' slots), keep a warm pool container per image of a model."""
        self.node_id = node_id
        self.output = output  # each workload's lines also go to the logger, when given
        self._followers: dict[str, threading.Thread] = {}
        self.client = client or docker.DockerClient(base_url=base_url, timeout=30)
        self.host_paths = HostPaths(self.client)  # bind sources seen from the engine, if we run in it
        self.gateway_url = gateway_url
        self.databases = WorkloadDatabases(databases)
        self._engine_cpus: int | None = None  # the engine's CPU count, asked at the first start
        self.pool = ContainerPool(self.client, node_id, pool_dir, self.host_paths, self._cpus)

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
                container = self.pool.take(workload_id, spec, generation) or self._run(
                    workload_id, spec, generation
                )
            except BaseException:
                self.databases.stop(workload_id)
                raise
            self._follow(container, spec.kind, spec.model_id, since=None)
            self.pool.started(workload_id, spec)
        elif spec.database:
            self.databases.start(workload_id, spec, WORKLOAD_GID)
        container.reload()
        endpoint = _endpoint(container)
        if not endpoint and has_endpoint(spec):
            raise RuntimeError(f"container {container.name} published no port: {self.logs(workload_id)}")
        return endpoint

    def _cpus(self) -> int:
        """The engine's CPU count, asked once."""
        if self._engine_cpus is None:
            self._engine_cpus = int(self.client.info()["NCPU"])
        return self._engine_cpus

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
            **hardening(spec, starting_cpu(spec.resources.cpu, self._cpus())),  # type: ignore[arg-type]
        )

    def settle(self, workload_id: str) -> None:
        """Hold a container that started on whole cores to its CPU limit; then provide its image's pool."""
        container = self._container(workload_id)
        if container is not None:
            _hold_to_limit(container)
        if container is not None:
            self.pool.settled(workload_id)

    keeps_workloads = True

    def adopt(self) -> list[Adopted]:
        """The node's running workload containers, which outlive an agent restart (databases restarted)."""
        self.pool.discard_unassigned(self._listed(every=True))  # a previous agent's: never adopted
        running = self._listed(every=False)
        for container, facts in running:
            _hold_to_limit(container)  # the agent may have stopped while the container started
            if {LABEL, "canopy.model"} <= set(facts):
                kind = facts.get("canopy.kind", "model")
                self._follow(container, kind, facts["canopy.model"], since=int(time.time()))
            if facts.get("canopy.database") == "1" and LABEL in facts:
                self.databases.resume(facts[LABEL], facts["canopy.model"], WORKLOAD_GID)
        return [
            Adopted(facts[LABEL], facts["canopy.model"], int(facts["canopy.generation"]), endpoint)
            for container, facts in running
            if {LABEL, "canopy.model", "canopy.generation"} <= set(facts)
            and ((endpoint := _endpoint(container)) or facts.get("canopy.port") == "0")
        ]

    def _listed(self, every: bool) -> list[tuple[Container, Mapping[str, str]]]:
        """The node's containers (running ones unless `every`), each with its facts: labels and record."""
        found = self.client.containers.list(all=every, filters={"label": f"canopy.node={self.node_id}"})
        return [(container, container_facts(container.labels)) for container in found]

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
        self.pool.forget(workload_id)
        if container is not None:
            container.remove(force=True)
            if gateway := container.labels.get(GATEWAY_LABEL, ""):
                release_gateway(self.client, gateway)
            if slot := container.labels.get(SLOT_LABEL, ""):
                Slot(Path(slot)).remove()  # the package it was handed and its record
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
        return [facts[LABEL] for _, facts in self._listed(every=True) if facts.get(LABEL)]

    def purge(self, instance_id: str) -> None:
        """Drop the data a deleted app instance left on this node."""
        self.databases.remove(instance_id)

    def close(self) -> None:
        """Remove the pool; stop the databases (adopt restarts them); drop an unused gateway exception."""
        self.pool.close()
        self.databases.close()
        if self.gateway_url:
            try:
                address, port = self._gateway_on_bridge()
                release_gateway(self.client, f"{address}:{port}")
            except (DockerException, RuntimeError):
                pass  # no workload network (no app ever ran here) or no engine: nothing to release
        self.client.close()
