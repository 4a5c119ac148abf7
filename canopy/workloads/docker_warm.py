"""The docker runtime's warm pool: start a pool container per image, hand it to a starting model, remove it.

A pool container is started after a model's replica is ready (on a thread, at the lowest CPU weight) from
the replica's image, with the same hardening; it belongs to no tenant, holds no package and is handed to
exactly one workload (see docker_pool for its slot). Apps and models with a database always start cold.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from canopy.contracts.deploy import WorkloadSpec
from canopy.workloads.docker_hardening import (
    CONTAINER_PORT,
    CPU_LABEL,
    LABEL,
    MODEL_DIR,
    PYTHON,
    SDK_DIR,
    WORKLOAD_ENV,
    container_name,
    cpu_limit,
    hardening,
    memory_limit,
    starting_cpu,
)
from canopy.workloads.docker_network import ensure_network
from canopy.workloads.docker_pool import (
    HANDED_OVER,
    HANDOVER_DIR,
    POOL_LABEL,
    SLOT_LABEL,
    Slot,
    WarmPool,
    pool_command,
    pool_key,
)

POOL_CPU_SHARES = 2  # a pool container imports at the lowest CPU weight until it is handed over
WORKLOAD_CPU_SHARES = 1024  # the engine's default weight, which a workload's container has
log = logging.getLogger(__name__)


def workload_facts(workload_id: str, spec: WorkloadSpec, generation: int) -> dict[str, str]:
    """What a pool container's record says once a workload took it: what its own labels would say."""
    return {
        LABEL: workload_id,
        "canopy.model": spec.model_id,
        "canopy.generation": str(generation),
        CPU_LABEL: str(spec.resources.cpu),
    }


class ContainerPool:
    """A node's pool containers: provided once a model is ready, handed over once, removed on close."""

    def __init__(
        self,
        client: docker.DockerClient,
        node_id: str,
        pool_dir: Path | None,
        host_paths: Callable[[str], str],
        engine_cpus: Callable[[], int],
    ) -> None:
        """Slots go under `pool_dir`; without it, no pool is kept."""
        self.client = client
        self.node_id = node_id
        self.pool_dir = pool_dir
        self.host_paths = host_paths
        self.engine_cpus = engine_cpus
        self.containers: WarmPool[Container] = WarmPool()
        self._unsettled: dict[str, WorkloadSpec] = {}  # started models: their pool is provided once ready
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pool-starter")

    def pools(self, spec: WorkloadSpec) -> bool:
        """Whether a workload may take, and leaves behind, a pool container: models without a database."""
        bound = bool(spec.image and spec.package_dir and spec.sdk_dir)
        return self.pool_dir is not None and spec.kind == "model" and not spec.database and bound

    def kept(self) -> list[Container]:
        """The pool containers kept, none of them handed over."""
        return self.containers.kept()

    def started(self, workload_id: str, spec: WorkloadSpec) -> None:
        """Note a started workload, whose image's pool is provided once it is settled."""
        if self.pools(spec):
            self._unsettled[workload_id] = spec

    def settled(self, workload_id: str) -> None:
        """Provide the pool of a settled workload's image, on the starter thread."""
        spec = self._unsettled.pop(workload_id, None)
        if spec is not None:
            self._starter.submit(self.provide, spec)

    def forget(self, workload_id: str) -> None:
        """Drop a stopped workload that never settled."""
        self._unsettled.pop(workload_id, None)

    def wait(self) -> None:
        """Wait until the pool containers asked for so far are provided."""
        self._starter.submit(lambda: None).result()

    def take(self, workload_id: str, spec: WorkloadSpec, generation: int) -> Container | None:
        """The image's pool container, handed this workload's package, limits and name; None: start cold."""
        pooled = self.containers.take(pool_key(spec)) if self.pools(spec) else None
        if pooled is None:
            return None
        slot = Slot(Path(pooled.labels[SLOT_LABEL]))
        try:
            pooled.reload()
            if pooled.status != "running":
                raise RuntimeError(f"it is {pooled.status}")
            slot.fill(Path(spec.package_dir))
            cpu = cpu_limit(starting_cpu(spec.resources.cpu, self.engine_cpus()))
            pooled.update(cpu_shares=WORKLOAD_CPU_SHARES, **memory_limit(spec.resources.memory_mb), **cpu)
            pooled.rename(container_name(workload_id))
            facts = workload_facts(workload_id, spec, generation)
            slot.write_record({**facts, HANDED_OVER: f"{time.time():.3f}"})
            slot.hand_over(spec.model_id)
        except (DockerException, OSError, RuntimeError) as exc:
            log.warning("could not hand %s to %s (%s): starting cold", pooled.name, workload_id, exc)
            self.discard(pooled)
            return None
        log.info("workload %s took over pool container %s of %s", workload_id, pooled.short_id, spec.image)
        return pooled

    def provide(self, spec: WorkloadSpec) -> None:
        """Start the image's pool container, unless one is kept."""
        key = pool_key(spec)
        if self.containers.has(key) or self.pool_dir is None:
            return
        token = uuid.uuid4().hex[:16]
        slot = Slot.create(self.pool_dir / token)
        binds = {spec.sdk_dir: SDK_DIR, str(slot.package): MODEL_DIR, str(slot.handover): HANDOVER_DIR}
        try:
            ensure_network(self.client)
            pooled = self.client.containers.run(
                spec.image,
                command=pool_command(PYTHON, MODEL_DIR, "0.0.0.0", CONTAINER_PORT),
                name=f"canopy_pool_{token}",  # never a workload's name (canopy-<id>) until handed over
                detach=True,
                working_dir=MODEL_DIR,
                labels={
                    "canopy.node": self.node_id,
                    "canopy.kind": "model",
                    "canopy.port": str(CONTAINER_PORT),
                    "canopy.database": "0",
                    POOL_LABEL: key,
                    SLOT_LABEL: str(slot.root),
                },
                environment=WORKLOAD_ENV,
                volumes={self.host_paths(src): {"bind": dst, "mode": "ro"} for src, dst in binds.items()},
                cpu_shares=POOL_CPU_SHARES,
                **hardening(spec, starting_cpu(spec.resources.cpu, self.engine_cpus())),  # type: ignore[arg-type]
            )
        except DockerException:
            slot.remove()
            log.exception("could not start a pool container of %s", spec.image)
            return
        for displaced in self.containers.keep(key, pooled):
            self.discard(displaced)
        log.info("pool container %s of %s started", pooled.short_id, spec.image)

    def discard(self, container: Container) -> None:
        """Remove a pool container that no workload holds, and its slot."""
        try:
            container.remove(force=True)
        except NotFound:
            pass
        except DockerException as exc:
            log.warning("could not remove pool container %s (%s)", container.name, exc)
        Slot(Path(container.labels[SLOT_LABEL])).remove()

    def discard_unassigned(self, listed: Iterable[tuple[Container, Mapping[str, str]]]) -> None:
        """Remove the listed pool containers that no workload took and that this pool does not keep."""
        kept = {container.id for container in self.containers.kept()}
        for container, facts in listed:
            if POOL_LABEL in facts and LABEL not in facts and container.id not in kept:
                self.discard(container)

    def close(self) -> None:
        """Stop providing, and remove every pool container kept."""
        self._starter.shutdown(wait=True, cancel_futures=True)
        for pooled in self.containers.clear():
            self.discard(pooled)
