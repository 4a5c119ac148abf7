"""Counters shared by a replica's worker processes: each keeps a JSON snapshot in a private folder.

A worker replaces its own snapshot file atomically each second its counters changed, and at once when
another worker asks through the worker's FIFO in the same folder. The worker answering /metrics asks every
live worker, waits (up to FRESH_WAIT) for their new files, and sums all of them. Files of exited workers
stay, so the replica's counters never go down when a worker is restarted (they miss at most that worker's
last second).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import threading
import time
from pathlib import Path
from typing import Any, Protocol

Snapshot = dict[str, Any]
SNAPSHOT_INTERVAL = 1.0
FRESH_WAIT = 0.5  # how long /metrics waits for the other workers' fresh snapshots


class Counting(Protocol):
    """What a worker publishes: its counters, and how often they changed."""

    changes: int

    def snapshot(self) -> Snapshot:
        """Every counter as plain JSON data."""


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (Linux /proc)."""
    return os.path.exists(f"/proc/{pid}")


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except OSError:
        return 0


class SharedMetrics:
    """A worker's own snapshot file and FIFO in the replica's metrics folder, and the sum of all snapshots."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._own = folder / f"{os.getpid()}-{time.monotonic_ns()}.json"  # unique even if a pid is reused
        self._lock = threading.Lock()
        fifo = self._own.with_suffix(".fifo")
        os.mkfifo(fifo, 0o600)
        self._asked = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self._writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # held so that reads never see EOF

    def publish(self, snapshot: Snapshot) -> None:
        """Replace this worker's snapshot file (write a temporary file, then rename it over the old one)."""
        with self._lock:
            temporary = self._own.with_suffix(".tmp")
            temporary.write_text(json.dumps(snapshot))
            os.replace(temporary, self._own)

    def serve(self, metrics: Counting, stop_fd: int) -> None:
        """Publish each second the counters changed, and whenever asked; return once `stop_fd` is readable."""
        published = -1
        while True:
            readable = select.select([stop_fd, self._asked], [], [], SNAPSHOT_INTERVAL)[0]
            if stop_fd in readable:
                return
            if self._asked in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._asked, 4096)
            elif metrics.changes == published:
                continue
            published = metrics.changes
            self.publish(metrics.snapshot())

    def gather(self, own: Snapshot) -> tuple[list[Snapshot], list[int]]:
        """Every worker's last snapshot (this one's `own`, live ones' asked afresh) and the live pids."""
        self.publish(own)
        peers = {}
        for path in self.folder.glob("*.json"):
            pid = int(path.name.split("-", 1)[0])
            if path != self._own and alive(pid):
                peers[path] = (pid, _inode(path))
                with contextlib.suppress(OSError):  # no reader (it is exiting) or already asked
                    fifo = os.open(path.with_suffix(".fifo"), os.O_WRONLY | os.O_NONBLOCK)
                    os.write(fifo, b"!")
                    os.close(fifo)
        deadline = time.monotonic() + FRESH_WAIT
        while (
            any(_inode(path) == inode for path, (_, inode) in peers.items()) and time.monotonic() < deadline
        ):
            time.sleep(0.002)
        snapshots, pids = [own], [os.getpid()]
        for path in self.folder.glob("*.json"):
            if path == self._own:
                continue
            with contextlib.suppress(OSError, ValueError):  # vanished, or cut short: nothing to add
                snapshots.append(json.loads(path.read_text()))
                if path in peers:
                    pids.append(peers[path][0])
        return snapshots, pids
