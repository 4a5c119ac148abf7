"""Placement, a pure function: the least-loaded live nodes whose labels and free capacity fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

LOST_AFTER_SECONDS = 10.0


class NoNodeFits(Exception):
    """No live node satisfies the labels and capacity; the message says why."""


@dataclass(frozen=True)
class NodeView:
    """What placement knows about a node: live load, size, labels and workload count."""

    node_id: str
    cpu_percent: float
    memory_percent: float
    cpu_count: float
    memory_mb: int
    max_workloads: int
    workloads: int
    last_seen: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    runtime: str = "process"

    @property
    def load(self) -> float:
        """Live load: the busier of CPU and memory, in percent."""
        return max(self.cpu_percent, self.memory_percent)

    @property
    def free_memory_mb(self) -> float:
        """Memory not in use."""
        return self.memory_mb * (100.0 - self.memory_percent) / 100.0


@dataclass(frozen=True)
class Demand:
    """What one replica needs and where it may go."""

    cpu: float = 1.0
    memory_mb: int = 512
    labels: Mapping[str, str] = field(default_factory=dict)


def is_alive(node: NodeView, now: datetime, lost_after: float = LOST_AFTER_SECONDS) -> bool:
    """A node is alive while its last report is younger than `lost_after` seconds."""
    return (now - node.last_seen).total_seconds() <= lost_after


def labels_match(node: NodeView, wanted: Mapping[str, str]) -> bool:
    """Whether the node carries every wanted label with the wanted value."""
    return all(node.labels.get(key) == value for key, value in wanted.items())


def fits(node: NodeView, demand: Demand) -> bool:
    """Whether the node has a free workload slot and the memory one replica needs."""
    return node.workloads < node.max_workloads and node.free_memory_mb >= demand.memory_mb


def _after_placing(node: NodeView, demand: Demand) -> NodeView:
    """The node as it will look with one more replica on it."""
    cpu = min(100.0, node.cpu_percent + 100.0 * demand.cpu / node.cpu_count)
    memory = min(100.0, node.memory_percent + 100.0 * demand.memory_mb / node.memory_mb)
    return replace(node, cpu_percent=cpu, memory_percent=memory, workloads=node.workloads + 1)


def place(
    nodes: Sequence[NodeView],
    replicas: int,
    demand: Demand,
    now: datetime,
    *,
    exclude: Sequence[str] = (),
    occupied: Mapping[str, int] | None = None,
    prefer: Sequence[str] = (),
    lost_after: float = LOST_AFTER_SECONDS,
) -> list[str]:
    """Choose a node for each replica: spread over distinct nodes first, then preferred, then least loaded.

    `occupied` counts the replicas of the same model already on each node, so new ones go elsewhere.
    `prefer` names the nodes of the replicas being replaced: their warm spares make a start there fast.

    Raises NoNodeFits naming the reason when not every replica can be placed.
    """
    if replicas < 1:
        return []
    alive = [n for n in nodes if is_alive(n, now, lost_after) and n.node_id not in exclude]
    if not alive:
        raise NoNodeFits("no live node: start an agent with `canopy agent --node-id NAME`")
    matching = [n for n in alive if labels_match(n, demand.labels)]
    if not matching:
        wanted = ",".join(f"{k}={v}" for k, v in sorted(demand.labels.items()))
        raise NoNodeFits(f"no live node has the labels {wanted}")
    state = {n.node_id: n for n in matching}
    used = {n.node_id: (occupied or {}).get(n.node_id, 0) for n in matching}
    chosen: list[str] = []
    for _ in range(replicas):
        candidates = [n for n in state.values() if fits(n, demand)]
        if not candidates:
            raise NoNodeFits(
                f"only {len(chosen)} of {replicas} replicas fit: no matching node has a free slot and "
                f"{demand.memory_mb} MB of free memory"
            )
        best = min(
            candidates,
            key=lambda n: (used[n.node_id], n.node_id not in prefer, n.load, n.workloads, n.node_id),
        )
        chosen.append(best.node_id)
        used[best.node_id] += 1
        state[best.node_id] = _after_placing(best, demand)
    return chosen
