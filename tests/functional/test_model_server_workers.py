"""A replica of two worker processes: both serve one port, /metrics counts them all, the dead are replaced."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from tests.model_servers import EXAMPLES, ServerProcess, running_server

IRIS = EXAMPLES / "sklearn-iris" / "package"
BODY = json.dumps(
    {"inputs": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}
)
PREDICTIONS = re.compile(r'^canopy_model_requests_total\{[^}]*route="/predict",status="200"\} (\S+)$', re.M)


def predictions_counted(url: str) -> float:
    """The replica's /predict count from its /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        found = PREDICTIONS.search(response.read().decode())
    return float(found.group(1)) if found else 0.0


def connect_and_predict(port: int, predictions: int) -> int:
    """On a new connection: ask /health which worker answers, then predict `predictions` times; the pid."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/health")
        health = connection.getresponse()
        health.read()
        pid = int(health.getheader("Canopy-Worker", "0"))
        for _ in range(predictions):
            connection.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200 and json.loads(response.read())["outputs"]["species"] == "setosa"
        return pid
    finally:
        connection.close()


def test_two_workers_serve_one_port_and_metrics_count_every_request() -> None:
    with running_server(IRIS, workers=2) as server:
        workers = {child.pid for child in psutil.Process(server.process.pid).children()}
        assert len(workers) == 2
        sent, answered = 0, set()
        for _ in range(40):  # accept() hands new connections to whichever worker waits
            answered.add(connect_and_predict(server.port, 3))
            sent += 3
            if answered == workers and sent >= 30:
                break
        assert answered == workers
        assert predictions_counted(server.url) == sent  # each worker's share, summed by whichever answered

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            children = {child.pid for child in psutil.Process(server.process.pid).children()}
            if len(children) == 2 and victim not in children:
                break
            time.sleep(0.1)
        assert len(children) == 2 and victim not in children
        (replacement,) = children - workers
        while connect_and_predict(server.port, 1) != replacement and time.monotonic() < deadline:
            sent += 1
        assert predictions_counted(server.url) == sent + 1  # the killed worker's count is kept

        (snapshot,) = Path(tempfile.gettempdir()).glob(f"canopy-metrics-*/{replacement}-*.json")
        server.process.terminate()
        assert server.process.wait(timeout=15) == 0
        assert not any(psutil.pid_exists(pid) for pid in children)
        assert not snapshot.parent.exists()


def test_the_workers_exit_when_their_parent_is_killed() -> None:
    server = ServerProcess(IRIS, workers=2)
    try:
        server.wait_ready()
        workers = psutil.Process(server.process.pid).children()
        (snapshot,) = Path(tempfile.gettempdir()).glob(f"canopy-metrics-*/{workers[0].pid}-*.json")
        server.process.kill()
        server.process.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        shutil.rmtree(snapshot.parent)  # the killed parent could not remove it
        assert not alive
    finally:
        server.stop()
