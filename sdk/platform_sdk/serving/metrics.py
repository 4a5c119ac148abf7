"""The replica's Prometheus metrics, kept and written in the text exposition format by hand."""

from __future__ import annotations

import bisect
import os
import threading
from collections import defaultdict
from pathlib import Path

from platform_sdk.serving.shared_metrics import SharedMetrics, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, *extra: tuple[str, str]) -> str:
    pairs = [*labels, *extra]
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else f"{int(value)}.0"


class Histogram:
    """Observations counted per bucket, with their sum; not thread-safe on its own (the owner locks)."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def add(self, values: list[float]) -> None:
        """Add another histogram's bucket counts and sum (its snapshot: the counts, then the sum)."""
        self.counts = [mine + int(theirs) for mine, theirs in zip(self.counts, values[:-1])]
        self.total += values[-1]

    def lines(self, name: str, labels: Labels) -> list[str]:
        """The _bucket (cumulative), _sum and _count sample lines."""
        lines, running = [], 0
        for bound, count in zip([*map(_number, self.bounds), "+Inf"], self.counts):
            running += count
            lines.append(f"{name}_bucket{_labels(labels, ('le', bound))} {running}.0")
        lines.append(f"{name}_sum{_labels(labels)} {self.total!r}")
        lines.append(f"{name}_count{_labels(labels)} {running}.0")
        return lines


PROCESS_GAUGES = (
    ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
    ("process_open_fds", "gauge", "Number of open file descriptors."),
    ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
)


def process_values(pid: int) -> tuple[float, ...] | None:
    """CPU seconds, virtual and resident bytes, start time, open and maximum fds of a process (/proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line[:5] == "btime"
        )
        limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
        open_files = next((line.split()[3] for line in limits if line.startswith("Max open files")), "0")
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration, IndexError):
        return None
    ticks, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
    return (
        (int(fields[11]) + int(fields[12])) / ticks,
        float(fields[20]),
        float(fields[21]) * page,
        boot + int(fields[19]) / ticks,
        float(fds),
        float(open_files if open_files.isdigit() else 0),
    )


def process_lines(pids: list[int]) -> list[str]:
    """Memory, CPU and file descriptors summed over the processes (earliest start, first's fd limit)."""
    found = [values for values in map(process_values, pids) if values is not None]
    if not found:
        return []
    totals = [sum(column) for column in zip(*found)]
    totals[3] = min(values[3] for values in found)
    totals[5] = found[0][5]
    lines = []
    for (name, kind, text), value in zip(PROCESS_GAUGES, totals):
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value!r}"]
    return lines


class ServerMetrics:
    """Requests, latency, inference time and bytes of one replica, labelled with the model's name and id.

    With `shared` (a replica of several worker processes), /metrics sums every worker's counters.
    """

    def __init__(self, model: str, model_id: str, shared: SharedMetrics | None = None) -> None:
        self._names = (model, model_id)
        self._model: Labels = (("model", model), ("model_id", model_id))
        self._shared = shared
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, Histogram] = {}
        self._inference = Histogram()
        self._bytes = [0, 0]
        self.changes = 0  # counts updates, so that a snapshot is written only when something changed

    def record(self, route: str, status: int, seconds: float, received: int, sent: int) -> None:
        """Count one finished request."""
        with self._lock:
            self._requests[(route, status)] += 1
            histogram = self._latency.get(route)
            if histogram is None:
                histogram = self._latency[route] = Histogram()
            histogram.observe(seconds)
            self._bytes[0] += received
            self._bytes[1] += sent
            self.changes += 1

    def observe_inference(self, seconds: float) -> None:
        """Count the time of one model call."""
        with self._lock:
            self._inference.observe(seconds)
            self.changes += 1

    def snapshot(self) -> Snapshot:
        """Every counter as plain JSON data, for the other workers of the replica."""
        with self._lock:
            return {
                "requests": [[route, status, count] for (route, status), count in self._requests.items()],
                "latency": {route: [*h.counts, h.total] for route, h in self._latency.items()},
                "inference": [*self._inference.counts, self._inference.total],
                "bytes": list(self._bytes),
            }

    def add(self, snapshot: Snapshot) -> None:
        """Add another worker's counters to these."""
        with self._lock:
            for route, status, count in snapshot["requests"]:
                self._requests[(route, status)] += count
            for route, values in snapshot["latency"].items():
                self._latency.setdefault(route, Histogram()).add(values)
            self._inference.add(snapshot["inference"])
            self._bytes = [mine + theirs for mine, theirs in zip(self._bytes, snapshot["bytes"])]

    def render(self) -> bytes:
        """The text exposition of every metric (summed over the workers), with process memory and CPU."""
        if self._shared is None:
            return self._exposition([os.getpid()])
        snapshots, pids = self._shared.gather(self.snapshot())
        total = ServerMetrics(*self._names)
        for snapshot in snapshots:
            total.add(snapshot)
        return total._exposition([os.getppid(), *pids])

    def _exposition(self, pids: list[int]) -> bytes:
        prefix = "canopy_model"
        lines = [f"# HELP {prefix}_requests_total Requests handled, by route and HTTP status"]
        lines.append(f"# TYPE {prefix}_requests_total counter")
        with self._lock:
            for (route, status), count in sorted(self._requests.items()):
                labels = _labels(self._model, ("route", route), ("status", str(status)))
                lines.append(f"{prefix}_requests_total{labels} {count}.0")
            lines += [f"# HELP {prefix}_request_seconds Time from request to response, by route"]
            lines += [f"# TYPE {prefix}_request_seconds histogram"]
            for route, histogram in sorted(self._latency.items()):
                lines += histogram.lines(f"{prefix}_request_seconds", (*self._model, ("route", route)))
            lines += [f"# HELP {prefix}_inference_seconds Time spent inside the model call"]
            lines += [f"# TYPE {prefix}_inference_seconds histogram"]
            lines += self._inference.lines(f"{prefix}_inference_seconds", self._model)
            for name, text, value in (
                ("request_bytes", "Request body bytes received", self._bytes[0]),
                ("response_bytes", "Response body bytes sent", self._bytes[1]),
            ):
                lines += [f"# HELP {prefix}_{name}_total {text}", f"# TYPE {prefix}_{name}_total counter"]
                lines.append(f"{prefix}_{name}_total{_labels(self._model)} {value}.0")
        lines += process_lines(pids)
        return ("\n".join(lines) + "\n").encode()
