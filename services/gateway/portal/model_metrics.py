"""Latency and throughput of a model's ready replicas, scraped from their /metrics into a small history.

Scrapes are bounded: at most one per model per second, a short timeout per replica, a few replicas
at a time; each model keeps its last HISTORY points, and at most MAX_MODELS models are remembered.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import urllib3

PREFIX = "canopy_model"
# The model-serving routes whose requests count; /metrics and /health (our own scrapes) do not.
SERVED_ROUTES = frozenset({"/predict", "/v2/infer"})
MIN_INTERVAL = 1.0
HISTORY = 300
MAX_MODELS = 256
SCRAPE_TIMEOUT = urllib3.Timeout(connect=0.5, read=1.0)
SCRAPE_BYTES = 1024 * 1024
P95_COLOR = "#c0662b"
_POOL = urllib3.PoolManager(maxsize=8, retries=False, timeout=SCRAPE_TIMEOUT)
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Totals:
    """A replica's served requests and their latency histogram (cumulative counts by upper bound)."""

    requests: float = 0.0
    seconds: float = 0.0
    count: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()

    def mean_ms(self) -> float | None:
        """The mean latency since the replica started, in milliseconds."""
        return 1000 * self.seconds / self.count if self.count else None


@dataclass(frozen=True)
class Point:
    """One point of the history: when, requests per second, mean and p95 latency in milliseconds."""

    at: float
    rate: float | None
    mean_ms: float | None
    p95_ms: float | None


@dataclass
class History:
    """What the portal knows of one model: the points, and each replica's last totals."""

    points: deque[Point] = field(default_factory=lambda: deque(maxlen=HISTORY))
    last: dict[str, Totals] = field(default_factory=dict)
    last_at: float = 0.0
    scraped_at: float = -math.inf


def parse_totals(text: str) -> Totals:
    """Sum the served routes' request counter and latency histogram out of a Prometheus text page."""
    requests = seconds = count = 0.0
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if not found or not found.group(1).startswith(PREFIX):
            continue
        name, labels = found.group(1), dict(_LABEL.findall(found.group(2) or ""))
        if labels.get("route") not in SERVED_ROUTES:
            continue
        try:
            value = float(found.group(3))
        except ValueError:
            continue
        if name == f"{PREFIX}_requests_total":
            requests += value
        elif name == f"{PREFIX}_request_seconds_sum":
            seconds += value
        elif name == f"{PREFIX}_request_seconds_count":
            count += value
        elif name == f"{PREFIX}_request_seconds_bucket" and "le" in labels:
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
    return Totals(requests, seconds, count, tuple(sorted(buckets.items())))


def fetch_metrics(endpoint: str) -> str:
    """A replica's /metrics page ('' when it does not answer in time)."""
    try:
        reply = _POOL.request("GET", f"{endpoint.rstrip('/')}/metrics", preload_content=False)
        try:
            body = reply.read(SCRAPE_BYTES) if reply.status == 200 else b""
        finally:
            reply.release_conn()
    except urllib3.exceptions.HTTPError:
        return ""
    return body.decode("utf-8", "replace")


def _delta(now: float, before: float) -> float:
    """How much a counter grew (a counter that went down restarted from zero)."""
    return now - before if now >= before else now


def p95_ms(buckets: dict[float, float], count: float) -> float | None:
    """The 95th percentile in milliseconds, interpolated inside its histogram bucket."""
    if count <= 0:
        return None
    wanted, lower, below = 0.95 * count, 0.0, 0.0
    for bound, cumulative in sorted(buckets.items()):
        if cumulative >= wanted:
            if math.isinf(bound):
                return 1000 * lower
            inside = cumulative - below
            share = (wanted - below) / inside if inside else 1.0
            return 1000 * (lower + (bound - lower) * share)
        lower, below = bound, cumulative
    return None


def next_point(at: float, elapsed: float, before: dict[str, Totals], now: dict[str, Totals]) -> Point:
    """The rates between two scrapes, over the replicas seen in both."""
    requests = seconds = count = 0.0
    buckets: dict[float, float] = {}
    for endpoint, totals in now.items():
        previous = before.get(endpoint)
        if previous is None:
            continue
        requests += _delta(totals.requests, previous.requests)
        seconds += _delta(totals.seconds, previous.seconds)
        count += _delta(totals.count, previous.count)
        earlier = dict(previous.buckets)
        for bound, value in totals.buckets:
            buckets[bound] = buckets.get(bound, 0.0) + _delta(value, earlier.get(bound, 0.0))
    shared = any(endpoint in before for endpoint in now)
    rate = requests / elapsed if shared and elapsed > 0 else None
    mean = 1000 * seconds / count if count else None
    return Point(at, rate, mean, p95_ms(buckets, count))


class ReplicaMetrics:
    """Scrapes models' replicas on demand (rate-limited) and keeps a bounded history per model."""

    def __init__(
        self,
        fetch: Callable[[str], str] = fetch_metrics,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._models: OrderedDict[str, History] = OrderedDict()
        self._scrapers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="replica-metrics")

    def sample(self, model_id: str, endpoints: Sequence[str]) -> tuple[list[Point], dict[str, Totals]]:
        """Scrape the replicas unless done in the last second; the points and each replica's totals."""
        with self._lock:
            history = self._models.pop(model_id, None) or History()
            self._models[model_id] = history
            while len(self._models) > MAX_MODELS:
                self._models.popitem(last=False)
            due = self._clock() - history.scraped_at >= MIN_INTERVAL
            if due:
                history.scraped_at = self._clock()
        if due:
            pages = list(self._scrapers.map(self._fetch, endpoints))
            answered = zip(endpoints, pages, strict=True)
            totals = {endpoint: parse_totals(page) for endpoint, page in answered if page}
            with self._lock:
                at = self._clock()
                if history.last:
                    elapsed = at - history.last_at
                    history.points.append(next_point(self._wall(), elapsed, history.last, totals))
                history.last, history.last_at = totals, at
        with self._lock:
            return list(history.points), dict(history.last)

    def chart(self, model_id: str, endpoints: Sequence[str], kind: str) -> dict[str, Any]:
        """The chart JSON of one model: 'throughput' (requests/s) or 'latency' (mean and p95, ms)."""
        points, _ = self.sample(model_id, endpoints)
        times = [round(point.at, 3) for point in points]
        if kind == "latency":
            series = [
                {"label": "mean latency (ms)", "values": [_round(p.mean_ms) for p in points]},
                {
                    "label": "p95 latency (ms)",
                    "values": [_round(p.p95_ms) for p in points],
                    "color": P95_COLOR,
                },
            ]
        else:
            series = [{"label": "requests/s", "values": [_round(p.rate) for p in points]}]
        return {"times": times, "series": series}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
