"""A bounded, in-memory history of each node's CPU and memory load, for the portal's live charts.

Points are the agents' own reports (their time and load), read from the node registry on request at
most once a second per node; a chart starts with the current report, so it is never empty.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app

POINTS_PER_NODE = 600  # 20 minutes of reports every 2 s
MAX_NODES = 1000
READ_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class LoadSample:
    """One report of a node: when (unix seconds) and its CPU and memory load in percent."""

    at: float
    cpu_percent: float
    memory_percent: float


class NodeHistory:
    """Recent load samples of at most MAX_NODES nodes (least recently seen forgotten first), thread-safe."""

    def __init__(
        self,
        points: int = POINTS_PER_NODE,
        max_nodes: int = MAX_NODES,
        read_every: float = READ_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.points, self.max_nodes, self.read_every, self.clock = points, max_nodes, read_every, clock
        self._samples: OrderedDict[str, deque[LoadSample]] = OrderedDict()
        self._read_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def observe(self, node_id: str, sample: LoadSample | None) -> None:
        """Add a report already read (ignored when it is not newer than the last one kept)."""
        if sample is None:
            return
        with self._lock:
            kept = self._samples.get(node_id)
            if kept is None:
                kept = self._samples[node_id] = deque(maxlen=self.points)
                while len(self._samples) > self.max_nodes:
                    forgotten, _ = self._samples.popitem(last=False)
                    self._read_at.pop(forgotten, None)
            self._samples.move_to_end(node_id)
            if not kept or sample.at > kept[-1].at:
                kept.append(sample)

    def samples(self, node_id: str, read: Callable[[], LoadSample | None]) -> list[LoadSample]:
        """The node's samples, after reading its current report with `read` if not done in the last second."""
        now = self.clock()
        with self._lock:
            due = now - self._read_at.get(node_id, float("-inf")) >= self.read_every
            if due:
                self._read_at[node_id] = now
        if due:
            try:
                sample = read()
            except Exception:
                with self._lock:
                    self._read_at.pop(node_id, None)  # an unknown node leaves nothing behind
                raise
            self.observe(node_id, sample)
        with self._lock:
            return list(self._samples.get(node_id, ()))

    def forget(self, node_id: str) -> None:
        """Drop a removed node's history."""
        with self._lock:
            self._samples.pop(node_id, None)
            self._read_at.pop(node_id, None)


def chart_json(samples: list[LoadSample]) -> dict[str, Any]:
    """Samples in the portal's chart format: times and one series each for CPU and memory."""
    return {
        "times": [sample.at for sample in samples],
        "series": [
            {
                "label": "CPU %",
                "color": "#2b7a78",
                "values": [round(sample.cpu_percent, 1) for sample in samples],
            },
            {
                "label": "Memory %",
                "color": "#de6b48",
                "values": [round(sample.memory_percent, 1) for sample in samples],
            },
        ],
    }


def node_history() -> NodeHistory:
    """The history kept by the app serving the current request."""
    history: NodeHistory = current_app.extensions.setdefault("canopy-node-history", NodeHistory())
    return history
