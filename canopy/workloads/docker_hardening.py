"""The hardening every workload container gets, and where it finds its package and SDK."""

from __future__ import annotations

import math
from collections.abc import Callable

from canopy.apps.database_plan import WORKLOAD_DATABASE_DIR
from canopy.contracts.deploy import WorkloadSpec
from canopy.workloads.cgroups import CPU_PERIOD_US
from canopy.workloads.docker_network import NETWORK
from canopy.workloads.launch import has_endpoint

CONTAINER_PORT = 8000
MODEL_DIR = "/opt/model"  # where the package is bound read-only
SDK_DIR = "/opt/sdk"  # where the SDK bundle is bound read-only (the PYTHONPATH entry)
PYTHON = "/opt/venv/bin/python"  # the dependencies image's virtualenv (deploy/deps.Dockerfile)
WORKLOAD_USER = "10001:10001"
WORKLOAD_GID = 10001
PIDS_LIMIT = 256
LABEL = "canopy.workload"
CPU_LABEL = "canopy.cpu"  # the CPU limit a container is held to once it has started


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


def memory_limit(memory_mb: int) -> dict[str, str]:
    """A memory limit with no swap beyond it, as `docker run` and `docker update` take it."""
    return {"mem_limit": f"{memory_mb}m", "memswap_limit": f"{memory_mb}m"}


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
        **memory_limit(spec.resources.memory_mb),
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
