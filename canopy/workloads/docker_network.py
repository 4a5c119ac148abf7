"""The docker workloads' own network: no traffic between containers and no route into the host."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from canopy.workloads.wheels import file_lock

log = logging.getLogger(__name__)

NETWORK = "canopy-workloads"
BRIDGE = "canopy-wl0"  # the host-side interface of the network, named so the firewall can match it
CHAIN = "CANOPY-WORKLOADS"
GATEWAY_LABEL = "canopy.gateway"  # on app containers: address:port of the gateway exception they rely on
OPTIONS = {"com.docker.network.bridge.enable_icc": "false", "com.docker.network.bridge.name": BRIDGE}


def firewall_rules(chain: str = CHAIN) -> list[list[str]]:
    """The iptables rules (without the -A/-I verb) that drop every connection a workload opens to the host.

    Replies to connections the host opened (published ports reached through 127.0.0.1) still pass;
    anything else arriving from the bridge, whatever host address or port it aims at, is dropped.
    """
    return [
        [chain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        [chain, "-j", "DROP"],
    ]


def gateway_rule(address: str, port: int, chain: str = CHAIN) -> list[str]:
    """The one exception: workloads may open connections to the gateway's port on the bridge address."""
    return [chain, "-d", address, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"]


def jump_rule(bridge: str = BRIDGE, chain: str = CHAIN) -> list[str]:
    """The INPUT rule sending traffic from the workload bridge to the chain."""
    return ["INPUT", "-i", bridge, "-j", chain]


def ensure_network(client: docker.DockerClient) -> str:
    """Create the workload network (ICC off) and its firewall unless they exist; return its name."""
    with file_lock(Path(tempfile.gettempdir()) / "canopy-workload-network.lock"):
        try:
            client.networks.get(NETWORK)
        except NotFound:
            try:
                client.networks.create(
                    NETWORK, driver="bridge", options=OPTIONS, labels={"canopy": "workloads"}
                )
            except APIError as exc:
                if exc.status_code != 409:  # created by another agent meanwhile
                    raise
        ensure_firewall()
    return NETWORK


def bridge_address(client: docker.DockerClient) -> str:
    """The host's address on the workload network (its gateway), which workloads reach the host at."""
    network = client.networks.get(NETWORK)
    configs = network.attrs.get("IPAM", {}).get("Config") or []
    address = next((str(c["Gateway"]) for c in configs if c.get("Gateway") and "." in c["Gateway"]), "")
    if not address:
        raise RuntimeError(f"the docker network {NETWORK} has no IPv4 gateway address")
    return address


def allow_gateway(address: str, port: int) -> None:
    """Let workloads reach the gateway's port on the bridge address, ahead of the DROP (idempotent)."""
    if os.geteuid() != 0:
        return  # without the firewall (see ensure_firewall) nothing is dropped in the first place
    rule = gateway_rule(address, port)
    if not _iptables(["-C", *rule], allow_failure=True):
        _iptables(["-I", rule[0], "1", *rule[1:]])


def release_gateway(client: docker.DockerClient, gateway: str) -> None:
    """Remove the exception for `gateway` (address:port) once no app container on the engine relies on it."""
    with gateway_lock():
        if os.geteuid() == 0 and not client.containers.list(
            all=True, filters={"label": f"{GATEWAY_LABEL}={gateway}"}
        ):
            address, port = gateway.rsplit(":", 1)
            _iptables(["-D", *gateway_rule(address, int(port))], allow_failure=True)  # gone already: fine


@contextmanager
def gateway_lock() -> Iterator[None]:
    """Held while an app container is started or the last one using a gateway exception is removed."""
    with file_lock(Path(tempfile.gettempdir()) / "canopy-workload-gateway.lock"):
        yield


def ensure_firewall() -> None:
    """Add the chain and rules that are missing (idempotent); needs root, else warns."""
    if os.geteuid() != 0:
        log.warning(
            "not root: docker workloads can reach host ports through %s (the firewall needs root)", BRIDGE
        )
        return
    _iptables(["-N", CHAIN], allow_failure=True)  # exists already: fine
    for rule in firewall_rules():
        if not _iptables(["-C", *rule], allow_failure=True):
            _iptables(["-A", *rule])
    if not _iptables(["-C", *jump_rule()], allow_failure=True):
        _iptables(["-I", *jump_rule()[:1], "1", *jump_rule()[1:]])


def _iptables(args: list[str], allow_failure: bool = False) -> bool:
    """Run iptables -w; True when it succeeded, RuntimeError on failure unless allowed."""
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0 and not allow_failure:
        raise RuntimeError(f"iptables {' '.join(args)} failed: {result.stderr.strip()}")
    return result.returncode == 0
