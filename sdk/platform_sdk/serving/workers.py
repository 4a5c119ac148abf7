"""A replica of several worker processes: the parent holds the listening socket, forks and restarts workers.

Each worker loads the model itself after the fork (its own batcher thread, its own interpreter lock) and
accepts connections on the inherited socket. No worker serves until every first worker has loaded, so the
first keep-alive connections spread over all of them. The parent restarts a worker that exits (at most
once a second), stops every worker on SIGTERM or SIGINT, and exits non-zero if a worker fails before the
replica is ready. A worker exits when its parent is gone (its end of the lifeline pipe reads EOF).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from platform_sdk.serving.shared_metrics import Counting, SharedMetrics

WORKERS_VARIABLE = "CANOPY_SERVER_WORKERS"
MAX_DEFAULT_WORKERS = 2
RESTART_DELAY = 1.0  # a worker is restarted no sooner than this after its previous start
STOP_GRACE = 5.0  # seconds the workers get between SIGTERM and SIGKILL
CGROUP = Path("/sys/fs/cgroup")
log = logging.getLogger("platform_sdk.serving")


class Serving(Protocol):
    """A worker's HTTP server, serving until its process ends."""

    def serve_forever(self) -> None:
        """Accept and answer connections."""


Load = Callable[[SharedMetrics], tuple[Counting, Serving]]


def cpu_quota(root: Path = CGROUP) -> float | None:
    """The CPUs this process's cgroup may use (v2 cpu.max or v1 CFS quota); None when unlimited or unknown."""
    for quota_file, period_file in (("cpu.max", ""), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            values = (root / quota_file).read_text().split()
            if period_file:
                values.append((root / period_file).read_text().strip())
            quota, period = int(values[0]), int(values[1])
        except (OSError, ValueError, IndexError):
            continue  # "max" (no limit), or not this cgroup version
        return quota / period if quota > 0 and period > 0 else None
    return None


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), bounded by its cgroup's CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def worker_count(environ: Mapping[str, str] = os.environ) -> int:
    """CANOPY_SERVER_WORKERS when set, else one worker per available core, at most two."""
    text = environ.get(WORKERS_VARIABLE, "").strip()
    if not text:
        return min(MAX_DEFAULT_WORKERS, available_cores())
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{WORKERS_VARIABLE} must be a whole number of at least 1, not {text!r}")
    return int(text)


class Supervisor:
    """The parent of `count` workers that each run `load(shared metrics)` and then serve."""

    def __init__(self, count: int, load: Load) -> None:
        self.count = count
        self.load = load
        self.folder = Path(tempfile.mkdtemp(prefix="canopy-metrics-"))  # mode 0700: this uid only
        self.workers: dict[int, float] = {}  # pid -> monotonic start
        self.ready: set[int] = set()
        self.stopping = False
        self._ready_r, self._ready_w = os.pipe()  # workers write their pid once the model is loaded
        self._lifeline_r, self._lifeline_w = os.pipe()  # EOF in the workers once the parent is gone
        self._gate_r, self._gate_w = os.pipe()  # closed by the parent once every first worker is ready
        self._wake_r, self._wake_w = os.pipe()  # signals wake the parent's select()
        for fd in (self._ready_r, self._wake_r, self._wake_w):
            os.set_blocking(fd, False)

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT (status 0), or until a worker fails before the replica is up (1)."""
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # only to wake select()
        try:
            for _ in range(self.count):
                self._fork()
            return self._supervise()
        finally:
            self._shutdown()

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _supervise(self) -> int:
        """Wait for readiness, deaths and signals; restart dead workers; the replica's exit status."""
        restarts: list[float] = []
        while not self.stopping:
            timeout = max(0.0, min(restarts) - time.monotonic()) if restarts else None
            select.select([self._ready_r, self._wake_r], [], [], timeout)
            self._drain(self._wake_r)
            self.ready.update(int(pid) for pid in self._drain(self._ready_r).split())
            if self._gate_w >= 0 and len(self.ready) >= self.count:
                os.close(self._gate_w)
                self._gate_w = -1
                log.info("all %d workers loaded the model: serving", self.count)
            for pid, status in self._reap():
                started = self.workers.pop(pid)
                if self._gate_w >= 0:
                    log.error("worker %d failed while loading the model (status %d): stopping", pid, status)
                    return 1
                log.warning("worker %d exited with status %d: restarting it", pid, status)
                restarts.append(started + RESTART_DELAY)
            while restarts and min(restarts) <= time.monotonic() and not self.stopping:
                restarts.remove(min(restarts))
                self._fork()
        return 0

    @staticmethod
    def _drain(fd: int) -> str:
        """Whatever a non-blocking pipe holds now."""
        data = b""
        try:
            while chunk := os.read(fd, 4096):
                data += chunk
        except BlockingIOError:
            pass
        return data.decode()

    def _reap(self) -> list[tuple[int, int]]:
        """The workers that exited since the last call, with their exit status (-signal if killed)."""
        found = []
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.workers:
                found.append((pid, os.waitstatus_to_exitcode(status)))
        return found

    def _fork(self) -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._work()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        self.workers[pid] = time.monotonic()

    def _work(self) -> None:
        """In the worker: load the model, report ready, wait for the gate, then serve."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the workers
        for fd in (self._ready_r, self._lifeline_w, self._gate_w, self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        shared = SharedMetrics(self.folder)
        metrics, http = self.load(shared)
        shared.publish(metrics.snapshot())  # from now on, /metrics of the other workers asks this one
        os.write(self._ready_w, f"{os.getpid()}\n".encode())
        os.close(self._ready_w)
        os.read(self._gate_r, 1)  # EOF once the parent closed the gate (at once for a restarted worker)
        keeper = threading.Thread(
            target=self._keep, args=(metrics, shared), name="worker-keeper", daemon=True
        )
        keeper.start()
        http.serve_forever()

    def _keep(self, metrics: Counting, shared: SharedMetrics) -> None:
        """Publish the worker's counters until the parent is gone, then end the worker."""
        shared.serve(metrics, self._lifeline_r)
        os._exit(0)

    def _shutdown(self) -> None:
        """SIGTERM every worker, SIGKILL those still running after STOP_GRACE, and drop the metrics folder."""
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while self.workers and time.monotonic() < deadline:
            for pid, _ in self._reap():
                del self.workers[pid]
            time.sleep(0.02)
        for pid in list(self.workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        shutil.rmtree(self.folder, ignore_errors=True)
