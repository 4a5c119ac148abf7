"""The docker warm pool: the next model of an image is served by its pool container, a workload once taken."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest
import requests

from canopy.contracts.deploy import Resources
from canopy.workloads.docker_hardening import PYTHON, container_name, cpu_limit
from canopy.workloads.docker_pool import POOL_LABEL, pool_key
from canopy.workloads.docker_runtime import DockerRuntime
from tests.deploy_helpers import IRIS_INPUT, IRIS_PACKAGE, LEGACY_2022_PACKAGE, docker_model_spec

pytestmark = pytest.mark.docker


def _pool_container_id(runtime: DockerRuntime, key: str, timeout: float = 60.0) -> str:
    """The id of the pool container the runtime keeps for `key`, once it has started one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kept = [c for c in runtime.pool.kept() if c.labels[POOL_LABEL] == key]
        if kept:
            return str(kept[0].id)
        time.sleep(0.1)
    raise AssertionError(f"no pool container for {key} after {timeout} s")


def _node_pool(runtime: DockerRuntime) -> list[str]:
    """The ids of every pool container of the runtime's node, taken or not."""
    found = runtime.client.containers.list(
        all=True, filters={"label": [f"canopy.node={runtime.node_id}", POOL_LABEL]}
    )
    return [str(c.id) for c in found]


def test_a_second_model_of_the_image_takes_the_pool_container_and_stays_a_workload(
    docker_socket: str, canopy_home: Path, tmp_path: Path
) -> None:
    requirements = json.loads((IRIS_PACKAGE / "model.json").read_text())["requirements"]
    first = docker_model_spec("iris-a", IRIS_PACKAGE, canopy_home, requirements=requirements)
    shutil.copytree(IRIS_PACKAGE, tmp_path / "iris-b")
    smaller = Resources(cpu=1.0, memory_mb=384)  # handed to the pool container, started with the first's
    second = first.model_copy(
        update={"model_id": "iris-b", "package_dir": str(tmp_path / "iris-b"), "resources": smaller}
    )
    node, pool_dir = f"pool-{uuid.uuid4().hex[:6]}", tmp_path / "pool"
    runtime = DockerRuntime(node, pool_dir=pool_dir)
    one, two = f"{node}-one", f"{node}-two"
    try:
        assert runtime.wait_ready(one, runtime.start(one, first, 1)).ready
        pooled = _pool_container_id(runtime, pool_key(first))
        assert runtime.workloads() == [one]  # the unassigned pool container is no workload
        probe = "import os; print(os.listdir('/opt/model')); open('/opt/handover/handover.json', 'w')"
        code, (out, err) = runtime.client.containers.get(pooled).exec_run([PYTHON, "-c", probe], demux=True)
        assert code != 0 and out == b"[]\n" and b"Read-only file system" in err  # empty, inert

        endpoint = runtime.start(two, second, 3)
        assert runtime.client.containers.get(container_name(two)).id == pooled
        assert runtime.wait_ready(two, endpoint).ready
        answer = requests.post(f"{endpoint}/predict", json=IRIS_INPUT, timeout=10)
        assert answer.status_code == 200 and "outputs" in answer.json()
        assert 'model_id="iris-b"' in requests.get(f"{endpoint}/metrics", timeout=10).text  # the handover's
        assert runtime.running(two) and runtime.process_state(two) == "running"
        host = runtime.client.containers.get(pooled).attrs["HostConfig"]
        limits = (host["CpuQuota"], host["Memory"], host["CpuShares"])
        assert limits == (cpu_limit(1.0)["cpu_quota"], second.resources.memory_mb * 2**20, 1024)
        assert sorted(runtime.workloads()) == sorted([one, two])
        refilled = _pool_container_id(runtime, pool_key(first))  # a new one, for the next model
        assert refilled != pooled and refilled in _node_pool(runtime)

        restarted = DockerRuntime(node, pool_dir=pool_dir)  # an agent restart: the old pool goes
        adopted = {a.workload_id: (a.model_id, a.generation) for a in restarted.adopt()}
        assert adopted == {one: ("iris-a", 1), two: ("iris-b", 3)}
        assert refilled not in _node_pool(restarted)
        restarted.close()

        runtime.stop(two)
        assert not runtime.running(two) and two not in runtime.workloads()
        assert len(list(pool_dir.iterdir())) == 0  # its slot went with it
    finally:
        for workload in (one, two):
            runtime.stop(workload)
        runtime.close()
    assert _node_pool(runtime) == []


def test_a_2022_model_on_python_3_9_is_handed_the_pool_container_of_its_image(
    docker_socket: str, canopy_home: Path, tmp_path: Path
) -> None:
    pins = (LEGACY_2022_PACKAGE / "requirements.txt").read_text().split()
    shutil.copytree(LEGACY_2022_PACKAGE, tmp_path / "weather-a")
    shutil.copytree(LEGACY_2022_PACKAGE, tmp_path / "weather-b")
    first = docker_model_spec(
        "weather-a", tmp_path / "weather-a", canopy_home, requirements=pins, python="3.9"
    )
    second = first.model_copy(update={"model_id": "weather-b", "package_dir": str(tmp_path / "weather-b")})
    node = f"pool-{uuid.uuid4().hex[:6]}"
    runtime = DockerRuntime(node, pool_dir=tmp_path / "pool")
    one, two = f"{node}-one", f"{node}-two"
    try:
        assert runtime.wait_ready(one, runtime.start(one, first, 1)).ready
        pooled = _pool_container_id(runtime, pool_key(first))
        endpoint = runtime.start(two, second, 1)
        assert runtime.client.containers.get(container_name(two)).id == pooled
        assert runtime.wait_ready(two, endpoint).ready
        code, version = runtime.client.containers.get(pooled).exec_run(
            [PYTHON, "-c", "import sys; print(sys.version_info[:2])"]
        )
        assert (code, version.decode().strip()) == (0, "(3, 9)")
        body = {"perc": 0.5, "temp_max": 12}
        answer = requests.post(f"{endpoint}/predict/weather-b", json=body, timeout=30)
        assert (answer.status_code, answer.json()) == (200, {"output": "Drizzle"})
        assert 'model_id="weather-b"' in requests.get(f"{endpoint}/metrics", timeout=10).text
    finally:
        for workload in (one, two):
            runtime.stop(workload)
        runtime.close()
    assert _node_pool(runtime) == []
