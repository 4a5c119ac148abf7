"""Node status reports as a small, idle node sends them, for tests of the code that judges them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from canopy.contracts.deploy import NodeStatus, WorkloadStatus


def idle_status(
    node_id: str, at: datetime, workloads: Sequence[WorkloadStatus] = (), max_workloads: int = 4
) -> NodeStatus:
    """An unsigned report of an idle two-core, 1 GiB process node listing `workloads`."""
    return NodeStatus(
        node_id=node_id,
        runtime="process",
        cpu_percent=1,
        memory_percent=1,
        cpu_count=2,
        memory_mb=1024,
        max_workloads=max_workloads,
        workloads=list(workloads),
        at=at,
    )
