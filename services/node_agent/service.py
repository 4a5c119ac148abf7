"""Assemble a node agent: a command subscription and a status reporter around a runtime."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from canopy.apps.database import NodeDatabases
from canopy.bus import Bus
from canopy.bus.typed import Subscriber, publish
from canopy.config import gateway_url
from canopy.contracts import topics
from canopy.ed25519 import Ed25519PrivateKey
from canopy.logs.workload import WorkloadOutput
from canopy.nodes.enrolment import enrol_here
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.component import LoopThread
from canopy.runtime.subscription import SubscriptionLoop
from canopy.workloads.runtime import Runtime
from services.node_agent.agent import AgentSettings, NodeAgent


class StatusReporter(LoopThread):
    """Publishes the node's status every `interval` s (CANOPY_NODE_REPORT_INTERVAL), and at once on a death.

    Workloads are checked every `watch_seconds` of the runtime (0.25 s for processes), so a replica that
    exits is reported within that time rather than at the next periodic report.
    """

    name = "node-status"

    def __init__(
        self, agent: NodeAgent, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.agent = agent
        self.interval = interval
        self.clock = clock
        self.idle_seconds = min(interval, agent.runtime.watch_seconds)
        self._next_report = -math.inf

    def step(self) -> None:
        """Check the workloads; report when one died or the interval has passed."""
        died = self.agent.check_workloads()
        now = self.clock()
        if died or now >= self._next_report:
            self.agent.report()
            self._next_report = now + self.interval


class AgentLifecycle:
    """Adopts surviving workloads when the agent starts; stops process workloads when it stops."""

    name = "runtime"

    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def start(self) -> None:
        """Adopt what still runs."""
        self.agent.adopt()

    def stop(self) -> None:
        """Shut the runtime down."""
        self.agent.shutdown()


def make_runtime(
    kind: str,
    node_id: str,
    home: Path,
    rootfs_dir: Path,
    gateway: str = "",
    store_url: str = "",
    output: WorkloadOutput | None = None,
    spares: bool = True,
    pool: bool = True,
) -> Runtime:
    """The runtime named `kind` for this node; process workloads run in the rootfs of rootfs_dir.

    `gateway` is the gateway's URL as this node reaches it, which app workloads are given; app
    instances that ask for a database get one kept under `home`, on PostgreSQL when `store_url` is.
    Workloads' output lines go to `output` (to the logger) as well as to their log files. With
    `spares`, the process runtime keeps a warm spare of each model it serves; with `pool`, the docker
    runtime keeps a pool container per image of the models it started.
    """
    databases = NodeDatabases(home, store_url) if store_url else None
    if kind == "docker":
        from canopy.workloads.docker_runtime import DockerRuntime

        pool_dir = home / "agents" / node_id / "pool" if pool else None
        return DockerRuntime(
            node_id, gateway_url=gateway, databases=databases, output=output, pool_dir=pool_dir
        )
    from canopy.workloads.process_runtime import ProcessRuntime

    return ProcessRuntime(home / "agents" / node_id, rootfs_dir, gateway, databases, output, spares)


def bus_output(bus: Bus, node_id: str, per_second: int) -> WorkloadOutput:
    """Workload output shipped over the bus as log records of node `node_id`."""
    return WorkloadOutput(
        lambda line: publish(bus, line, key=line.model_id or line.instance_id), node_id, per_second
    )


def agent_components(
    backends: Backends,
    node_id: str,
    key: Ed25519PrivateKey,
    *,
    runtime: str = "process",
    labels: Mapping[str, str] | None = None,
    simulated_load: tuple[float, float] | None = None,
    max_workloads: int = 8,
    gateway: str = "",
) -> list[Component]:
    """The components of one node agent that joined with `key`; apps reach the gateway at `gateway`.

    `gateway` defaults to the configured one (CANOPY_GATEWAY_URL, else the API's listen address).
    """
    home = backends.config.home
    settings = AgentSettings(node_id, home, key, dict(labels or {}), max_workloads, simulated_load)
    rootfs = Path(backends.config.rootfs_dir)
    gateway = gateway or gateway_url(backends.config)
    store_url = str(backends.config.db_url)
    output = bus_output(backends.bus, node_id, int(backends.config.log_lines_per_second))
    spares = bool(backends.config.heal_spares)
    pool = bool(backends.config.docker_pool)
    workload_runtime = make_runtime(runtime, node_id, home, rootfs, gateway, store_url, output, spares, pool)
    agent = NodeAgent(backends.bus, workload_runtime, settings)
    subscribe: Callable[[], Subscriber] = lambda: Subscriber(  # noqa: E731
        backends.bus, f"node-agent-{node_id}", [topics.NODE_COMMANDS], agent.on_command
    )
    return [
        AgentLifecycle(agent),
        SubscriptionLoop("node-commands", subscribe),
        StatusReporter(agent, backends.config.node_report_interval),
    ]


def local_agent_components(backends: Backends) -> list[Component]:
    """The agent `canopy up` starts: this machine, process runtime, enrolled in-process on first start."""
    node_id = f"local-{socket.gethostname()}"[:64]
    with backends.store.session() as session:
        key = enrol_here(session, backends.config.home, node_id, datetime.now(UTC))
    return agent_components(backends, node_id, key, runtime="process")


def main() -> None:
    """Entry point of python -m services.node_agent: the `canopy agent` command."""
    from bootstrap.commands.agent import agent

    agent()
