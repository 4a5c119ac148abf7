"""A docker replica loads its model on ceil(cpu) whole cores, then is held to its CPU limit once ready."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from canopy.contracts.deploy import Resources
from canopy.workloads.docker_runtime import DockerRuntime, container_name
from tests.deploy_helpers import docker_model_spec

pytestmark = pytest.mark.docker

QUOTA_READER = """
from platform_sdk.serving.workers import cpu_quota


class Quota:
    def load(self, path):
        self.at_load = cpu_quota()

    def predict(self, record):
        return {"at_load": self.at_load, "now": cpu_quota()}
"""


def quota_package(directory: Path) -> Path:
    """A model that reports its cgroup's CPU quota when it loaded and when it is called."""
    directory.mkdir()
    (directory / "model.py").write_text(QUOTA_READER)
    manifest = {
        "name": "quota",
        "version": "1",
        "framework": "python",
        "model_class": "model.py:Quota",
        "inputs": [{"name": "x", "type": "int"}],
        "outputs": [{"name": "at_load", "type": "float"}, {"name": "now", "type": "float"}],
    }
    (directory / "model.json").write_text(json.dumps(manifest))
    return directory


def test_a_replica_loads_on_a_whole_core_then_is_held_to_half_a_core(
    docker_socket: str, canopy_home: Path, tmp_path: Path
) -> None:
    directory = quota_package(tmp_path / "quota")
    spec = docker_model_spec("quota", directory, canopy_home, Resources(cpu=0.5, memory_mb=256))
    runtime, workload = DockerRuntime(f"cpu-{uuid.uuid4().hex[:6]}"), f"cpu-{uuid.uuid4().hex[:6]}"
    try:
        endpoint = runtime.start(workload, spec, 1)
        assert runtime.wait_ready(workload, endpoint).ready
        answer = requests.post(f"{endpoint}/predict", json={"x": 1}, timeout=10).json()["outputs"]
        assert answer == {"at_load": 1.0, "now": 0.5}
        host = runtime.client.containers.get(container_name(workload)).attrs["HostConfig"]
        assert (host["CpuQuota"], host["CpuPeriod"]) == (50_000, 100_000)
    finally:
        runtime.stop(workload)
        runtime.close()
