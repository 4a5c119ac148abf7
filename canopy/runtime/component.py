"""The shape of a service part and a helper for parts that run a loop on a thread."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Component(Protocol):
    """A part of a service that can be started and stopped."""

    name: str

    def start(self) -> None:
        """Begin working; return promptly."""

    def stop(self) -> None:
        """Stop working and release resources; safe to call once after start."""


class LoopThread:
    """Runs `step()` on a daemon thread until stopped; a failing step is logged, retried and reported."""

    name = "loop"
    idle_seconds = 0.0

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None

    def step(self) -> None:
        """One unit of work; subclasses override."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the loop thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait for the current step to finish."""
        self._stopping.set()
        self.interrupt()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def interrupt(self) -> None:
        """Cut short a wait inside the current step (steps that block on something else override this)."""

    @property
    def stopping(self) -> bool:
        """Whether stop() was called."""
        return self._stopping.is_set()

    def problem(self) -> str | None:
        """Why the loop is not working (not started, thread gone, last step raised), or None."""
        if self._thread is None:
            return "not started"
        if not self._thread.is_alive():
            return "stopped" if self.stopping else "its thread died"
        if self._failing is not None:
            return f"failing: {self._failing}"
        return None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.step()
            except Exception as exc:
                self._failing = type(exc).__name__
                log.exception("%s: step failed; retrying in 1 s", self.name)
                self._stopping.wait(1.0)
                continue
            self._failing = None
            if self.idle_seconds:
                self._stopping.wait(self.idle_seconds)
