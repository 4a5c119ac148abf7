"""Model serving benchmark: one sklearn replica's throughput, and model_call's overhead over a direct call.

Usage: python tests/bench/models_serving.py [--duration S] [--calls N] [--rounds R]

Throughput: 8 threads, each with its own keep-alive socket, POST /predict for --duration seconds; with the
server's CPU time per prediction (parent and worker processes), which the machine's other load disturbs
less than the rate. Replicas of 1 and 2 worker processes are measured alternately, --rounds times each, and
the median round of each is reported. The load generator writes prebuilt requests on raw sockets and reads
responses by Content-Length, so it takes little of the 2 cores; its own CPU per request is reported.
Baseline: the same model called in this process, one record per call (what each request cost before
batching), measured in the same run. To compare servers, the same handler (model, batcher, metrics) also
runs under gunicorn's gthread workers (2 workers, 8 threads each) in every round.
Overhead: --calls sequential predictions alternating model_call
(endpoints resolved through a fake gateway) and a direct keep-alive POST to the same replica with the same
HTTP library; p50 and p99 of each.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.spec import read_package

from canopy.config import load_config
from tests.model_servers import EXAMPLES, FakeGateway, running_server

RECORD = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BODY = json.dumps({"inputs": RECORD}).encode()
CALLERS = 8
PACKAGE = EXAMPLES / "sklearn-iris" / "package"
TARGETS = {"predictions_per_s": 4000, "overhead_p50_ms": 0.5, "overhead_p99_ms": 2.0}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process and its children (the replica's workers) have used so far."""
    total = 0.0
    for process in (psutil.Process(pid), *psutil.Process(pid).children()):
        fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def exchange(sock: socket.socket, request: bytes, pending: bytearray) -> None:
    """Send one request and read its whole response (status 200 and Content-Length checked)."""
    sock.sendall(request)
    while (end := pending.find(b"\r\n\r\n")) < 0:
        pending += sock.recv(65536) or b"!"
        if pending.endswith(b"!"):
            raise ConnectionError("the server closed the connection")
    head = bytes(pending[:end])
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    while len(pending) < end + 4 + length:
        pending += sock.recv(65536)
    del pending[: end + 4 + length]


def throughput(port: int, duration: float) -> tuple[int, float, float]:
    """Predictions made by CALLERS threads with keep-alive sockets, their seconds, and the callers' CPU s."""
    counts = [0] * CALLERS
    stop = time.monotonic() + duration
    request = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY

    def caller(index: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending = bytearray()
            while time.monotonic() < stop:
                exchange(sock, request, pending)
                counts[index] += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
    started, cpu = time.monotonic(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts), time.monotonic() - started, time.process_time() - cpu


def in_process(duration: float) -> tuple[float, float]:
    """Predictions/s of the same model called in this process, one record per call, and CPU ms per call."""
    pipeline = Pipeline(read_package(PACKAGE))
    features = np.asarray([list(RECORD.values())], dtype="float32")
    count, stop = 0, time.monotonic() + duration
    started, cpu = time.monotonic(), time.thread_time()
    while time.monotonic() < stop:
        pipeline.name_outputs(pipeline.adapter.predict(features))
        count += 1
    return count / (time.monotonic() - started), (time.thread_time() - cpu) / count * 1000


def model_calls(url: str) -> float:
    """How many times the replica has called its model so far, from its /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return float(re.search(r"^canopy_model_inference_seconds_count\S* (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values fall, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def overhead(url: str, calls: int) -> dict[str, Any]:
    """model_call versus a direct http.client keep-alive call, interleaved so both see the same noise."""
    gateway = FakeGateway()
    gateway.routes["iris"] = [url]
    client = ModelClient(ApiClient(gateway.url, gateway.token))
    connection = http.client.HTTPConnection(*url.removeprefix("http://").split(":"))
    headers = {"Content-Type": "application/json"}
    direct: list[float] = []
    via_sdk: list[float] = []
    client.call("iris", RECORD)
    for _ in range(calls):
        started = time.perf_counter()
        connection.request("POST", "/predict", BODY, headers)
        json.loads(connection.getresponse().read())
        direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        client.call("iris", RECORD)
        via_sdk.append(time.perf_counter() - started)
    gateway.close()
    connection.close()
    result = {
        "direct_p50_ms": percentile(direct, 0.5),
        "direct_p99_ms": percentile(direct, 0.99),
        "model_call_p50_ms": percentile(via_sdk, 0.5),
        "model_call_p99_ms": percentile(via_sdk, 0.99),
        "gateway_resolutions": gateway.calls,
    }
    result["overhead_p50_ms"] = result["model_call_p50_ms"] - result["direct_p50_ms"]
    result["overhead_p99_ms"] = result["model_call_p99_ms"] - result["direct_p99_ms"]
    result["overhead_median_of_pairs_ms"] = (
        statistics.median(s - d for s, d in zip(via_sdk, direct, strict=True)) * 1000
    )
    return result


def measure(workers: int, duration: float, gunicorn: bool = False) -> dict[str, float]:
    """One round: a replica of `workers` processes under 8 keep-alive callers for `duration` seconds.

    With `gunicorn`, the same handler runs in gunicorn's threaded workers instead of Canopy's server; its
    workers keep their metrics apart, so the model calls are not counted.
    """
    with running_server(PACKAGE, workers=workers, gunicorn=gunicorn) as server:
        throughput(server.port, 1.0)
        cpu, calls = cpu_seconds(server.process.pid), 0.0 if gunicorn else model_calls(server.url)
        count, seconds, client_cpu = throughput(server.port, duration)
        parent = psutil.Process(server.process.pid)
        children = parent.children()
        figures = {
            "predictions_per_s": count / seconds,
            "server_cpu_ms_per_prediction": (cpu_seconds(server.process.pid) - cpu) / count * 1000,
            "load_generator_cpu_ms_per_request": client_cpu / count * 1000,
            "worker_rss_mb": max(p.memory_info().rss for p in children or [parent]) / 2**20,
            "parent_rss_mb": parent.memory_info().rss / 2**20 if children else 0.0,
        }
        if not gunicorn:
            figures["predictions_per_model_call"] = count / (model_calls(server.url) - calls)
        return figures


def main() -> None:
    """Measure replicas of 1 and 2 workers alternately, then model_call's overhead; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    load_config()
    before = in_process(args.duration / 2)  # before and after the load, so both see the machine's noise
    rounds: dict[str, list[dict[str, float]]] = {"1_worker": [], "2_workers": [], "gunicorn_2_workers": []}
    for _ in range(args.rounds):
        rounds["1_worker"].append(measure(1, args.duration))
        rounds["2_workers"].append(measure(2, args.duration))
        rounds["gunicorn_2_workers"].append(measure(2, args.duration, gunicorn=True))
    with running_server(PACKAGE, workers=2) as server:
        figures = overhead(server.url, args.calls)
    after = in_process(args.duration / 2)
    baseline, baseline_cpu_ms = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    median = {
        name: {key: statistics.median(one[key] for one in measured) for key in measured[0]}
        for name, measured in rounds.items()
    }
    rate = median["2_workers"]["predictions_per_s"]
    report: dict[str, Any] = {
        "predictions_per_s_8_callers": round(rate, 1),
        "predictions_per_s_1_worker": round(median["1_worker"]["predictions_per_s"], 1),
        "gunicorn_gthread_predictions_per_s": round(median["gunicorn_2_workers"]["predictions_per_s"], 1),
        "in_process_predictions_per_s": round(baseline, 1),
        "served_over_in_process": round(rate / baseline, 2),
        "in_process_cpu_ms_per_prediction": round(baseline_cpu_ms, 3),
    }
    for name, figures_of in median.items():
        report[name] = {k: round(v, 3) for k, v in figures_of.items()}
    report["rounds"] = {
        name: [round(one["predictions_per_s"]) for one in measured] for name, measured in rounds.items()
    }
    report |= {k: round(v, 3) for k, v in figures.items()}
    report["targets"] = TARGETS
    report["pass"] = (
        rate >= TARGETS["predictions_per_s"]
        and figures["overhead_p50_ms"] <= TARGETS["overhead_p50_ms"]
        and figures["overhead_p99_ms"] <= TARGETS["overhead_p99_ms"]
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
