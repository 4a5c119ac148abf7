"""Starts prepared ahead: an app instance placed on a node and its environment or image built there early.

A booked window is prepared lead time before it opens: the deployer places the instance (one replica)
and builds what that node's runtime starts, and keeps both here. The start then only mints the
instance's credential and starts it on that node, unless the node has stopped reporting meanwhile
(then it is placed again). What is kept expires, so an instance never started does not linger.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from canopy.contracts.deploy import PlacementDecision, WorkloadSpec
from canopy.deployments.tables import Node
from canopy.nodes.fleet import node_view
from canopy.placement import is_alive
from canopy.store import Store

KEEP_SECONDS = 3600.0


@dataclass(frozen=True)
class Ahead:
    """One instance's placement and built workload spec, ready for its start."""

    decision: PlacementDecision
    specs: dict[str, WorkloadSpec]
    made: float = field(default_factory=time.monotonic)


@dataclass
class AheadStarts:
    """The starts prepared ahead, by instance id (thread-safe)."""

    _kept: dict[str, Ahead] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, instance_id: str, ahead: Ahead) -> None:
        """Remember an instance's prepared start (dropping any that expired)."""
        with self._lock:
            now = time.monotonic()
            for stale in [key for key, kept in self._kept.items() if now - kept.made > KEEP_SECONDS]:
                del self._kept[stale]
            self._kept[instance_id] = ahead

    def take(self, instance_id: str, store: Store, now: datetime) -> Ahead | None:
        """The instance's prepared start, once, if still fresh and its nodes still report."""
        with self._lock:
            ahead = self._kept.pop(instance_id, None)
        if ahead is None or time.monotonic() - ahead.made > KEEP_SECONDS:
            return None
        with store.session() as session:
            for node_id in ahead.decision.nodes:
                node = session.get(Node, node_id)
                if node is None or not is_alive(node_view(node), now):
                    return None
        return ahead
