"""A docker workload's output goes to the logger: the agent follows an adopted container's log stream."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from canopy.config import load_config
from canopy.contracts.system import LogRecord
from canopy.logs.workload import WorkloadOutput
from canopy.workloads.base_images import build_base_image
from canopy.workloads.docker_runtime import LABEL, DockerRuntime, container_name

pytestmark = pytest.mark.docker

SCRIPT = "\n".join(
    [
        "import sys, time",
        "for n in range(40):",
        "    print('tick', n, flush=True); time.sleep(0.1)",
        "print('bye', file=sys.stderr)",
    ]
)


def test_an_adopted_containers_new_lines_are_shipped_with_its_identity(docker_socket: str) -> None:
    image = build_base_image("3.11", Path(load_config().rootfs_dir))
    node, workload = f"logs-{uuid.uuid4().hex[:6]}", f"w-{uuid.uuid4().hex[:6]}"
    sent: list[LogRecord] = []
    runtime = DockerRuntime(node, output=WorkloadOutput(sent.append, node, per_second=100))
    labels = {LABEL: workload, "canopy.node": node, "canopy.model": "m-docker", "canopy.kind": "model"}
    labels |= {"canopy.generation": "1", "canopy.port": "0"}
    container = runtime.client.containers.run(
        image, ["python3", "-c", SCRIPT], name=container_name(workload), labels=labels, detach=True
    )
    try:
        deadline = time.monotonic() + 30
        while b"tick 15\n" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [adopted.workload_id for adopted in runtime.adopt()] == [workload]
        container.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not (sent and sent[-1].message == "bye") and time.monotonic() < deadline:
            time.sleep(0.1)
        messages = [record.message for record in sent]
        ticks = [int(text.split()[1]) for text in messages if text.startswith("tick")]
        assert messages[-1] == "bye" and ticks[-1] == 39
        assert ticks == list(range(ticks[0], 40)) and ticks[0] >= 5  # since= counts whole seconds
        assert {(r.source, r.model_id, r.node) for r in sent} == {("model", "m-docker", node)}
    finally:
        container.remove(force=True)
        runtime.close()
