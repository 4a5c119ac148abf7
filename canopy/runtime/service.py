"""A service is a named list of components started in order and stopped in reverse on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence

from canopy.runtime.component import Component

log = logging.getLogger(__name__)


class Service:
    """Owns the lifecycle of its components."""

    def __init__(self, name: str, components: Sequence[Component]) -> None:
        self.name = name
        self.components = list(components)
        self._started: list[Component] = []
        self._stop_requested = threading.Event()

    def start(self) -> None:
        """Start every component; if one fails, stop those already started and re-raise."""
        for component in self.components:
            try:
                component.start()
            except BaseException:
                log.exception("%s: component %s failed to start", self.name, component.name)
                self.stop()
                raise
            self._started.append(component)
            log.debug("%s: started %s", self.name, component.name)

    def stop(self) -> None:
        """Stop the started components in reverse order; keeps going past failures."""
        while self._started:
            component = self._started.pop()
            try:
                component.stop()
            except Exception:
                log.exception("%s: component %s failed to stop cleanly", self.name, component.name)

    def request_stop(self, *_: object) -> None:
        """Ask run() to return; used as the SIGTERM/SIGINT handler."""
        self._stop_requested.set()

    def run(self) -> None:
        """Start, wait for SIGTERM or SIGINT, then stop gracefully."""
        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            log.info("%s: running", self.name)
            while not self._stop_requested.wait(0.5):
                pass
            log.info("%s: stopping", self.name)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
