"""The workload firewall's exception for the gateway lives exactly as long as an app container uses it."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import docker
import pytest

from canopy.config import load_config
from canopy.workloads.base_images import build_base_image
from canopy.workloads.docker_network import (
    GATEWAY_LABEL,
    allow_gateway,
    bridge_address,
    ensure_network,
    gateway_rule,
    release_gateway,
)
from canopy.workloads.docker_runtime import DockerRuntime
from tests.conftest import require

pytestmark = pytest.mark.docker


def _installed(address: str, port: int) -> bool:
    """Whether the host's iptables holds the gateway exception for address:port."""
    check = ["iptables", "-w", "-C", *gateway_rule(address, port)]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def test_the_exception_stays_while_an_app_container_relies_on_it_and_goes_with_the_last_or_the_agent(
    docker_socket: str,
) -> None:
    require("root (the workload firewall is in iptables)", os.geteuid() == 0)
    client = docker.from_env()
    image = build_base_image("3.11", Path(load_config().rootfs_dir))
    ensure_network(client)
    address = bridge_address(client)
    port = 40000 + uuid.uuid4().int % 20000  # only a rule: nothing listens on it
    gateway = f"{address}:{port}"
    allow_gateway(address, port)
    app = client.containers.run(image, ["sleep", "60"], labels={GATEWAY_LABEL: gateway}, detach=True)
    try:
        release_gateway(client, gateway)
        assert _installed(address, port)  # the app still relies on it
        app.remove(force=True)
        release_gateway(client, gateway)
        assert not _installed(address, port)
        release_gateway(client, gateway)  # gone already: fine
        allow_gateway(address, port)
        DockerRuntime("gw-test", gateway_url=f"http://127.0.0.1:{port}").close()  # an agent stopping
        assert not _installed(address, port)
    finally:
        for left in client.containers.list(all=True, filters={"label": f"{GATEWAY_LABEL}={gateway}"}):
            left.remove(force=True)
        rule = gateway_rule(address, port)
        subprocess.run(["iptables", "-w", "-D", *rule], capture_output=True, check=False)
