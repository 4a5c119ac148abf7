"""Opportunistic batching: predictions that arrive while the model is busy go to it together, in one call.

No request waits for a batch to fill: a lone request runs at once; under load, a batch is whatever queued
during the previous model call, up to a limit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

BATCH_LIMIT = 64


class _Job:
    """One waiting prediction; `done` is held until its result or error is set."""

    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Lock()
        self.done.acquire()


class Batcher:
    """Runs `run_batch(items) -> results` on one thread for everything submitted concurrently."""

    def __init__(self, run_batch: Callable[[Sequence[Any]], list[Any]], limit: int = BATCH_LIMIT) -> None:
        self._run_batch = run_batch
        self._limit = limit
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="model-batcher", daemon=True).start()

    def submit(self, item: Any) -> Any:
        """The result for one item, computed in a batch with any others waiting; its own error is raised."""
        job = _Job(item)
        self._queue.put(job)
        job.done.acquire()
        if job.error is not None:
            raise job.error
        return job.result

    def _serve(self) -> None:
        while True:
            jobs = [self._queue.get()]
            while len(jobs) < self._limit:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._answer(jobs)

    def _answer(self, jobs: list[_Job]) -> None:
        """Run the batch; when it fails, run each item alone so one bad item fails only its own request."""
        try:
            results = self._run_batch([job.item for job in jobs])
            if len(results) != len(jobs):
                raise RuntimeError(f"the model gave {len(results)} results for a batch of {len(jobs)}")
            for job, result in zip(jobs, results):  # no strict=: replicas may run Python 3.9
                job.result = result
        except Exception as exc:
            if len(jobs) == 1:
                jobs[0].error = exc
            else:
                for job in jobs:
                    self._answer([job])
                return
        for job in jobs:
            job.done.release()
