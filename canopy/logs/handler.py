"""A logging handler that ships platform log lines over the bus without ever blocking the code that logs.

Records go on a bounded queue; one background thread publishes them. A full queue drops the record
and counts it. Lines of the bus clients themselves, and anything logged while publishing, are never
shipped (that would loop). Credentials are scrubbed by the same filter as the stderr lines.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter

from canopy.bus import Bus
from canopy.bus.typed import publish
from canopy.contracts.system import MAX_LOG_MESSAGE, LogRecord, LogSource
from canopy.redaction import RedactingFilter

QUEUE_SIZE = 10_000
UNSHIPPED_LOGGERS = ("canopy.bus", "confluent_kafka", "kafka", "canopy.logs.handler")
DROPPED = Counter("canopy_log_records_dropped_total", "Platform log lines not shipped to the bus", ["reason"])


def level_name(levelno: int) -> str:
    """The contract's level for a logging level number (custom levels round down to a known one)."""
    for number, name in ((50, "CRITICAL"), (40, "ERROR"), (30, "WARNING"), (20, "INFO")):
        if levelno >= number:
            return name
    return "DEBUG"


def service_of(logger_name: str, default: str) -> str:
    """The platform service a logger belongs to (services.<name>.…), else the process's service name."""
    parts = logger_name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" else default


def shipped(logger_name: str) -> bool:
    """Whether lines of this logger go over the bus (the bus clients' own lines never do)."""
    return not any(logger_name == name or logger_name.startswith(name + ".") for name in UNSHIPPED_LOGGERS)


class BusLogHandler(logging.Handler):
    """Queues each record as a LogRecord and publishes it from a background thread."""

    def __init__(
        self,
        send: Callable[[LogRecord], None],
        service: str,
        node: str,
        capacity: int = QUEUE_SIZE,
        source: LogSource = "service",
    ) -> None:
        super().__init__()
        self.addFilter(RedactingFilter())
        self.send, self.service, self.node, self.source = send, service, node, source
        self.dropped = 0
        self._queue: queue.Queue[LogRecord | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._drain, name="log-shipper", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record; drop it (counted) when the queue is full. Never blocks, never raises."""
        if threading.current_thread() is self._thread or not shipped(record.name):
            return
        try:
            text = record.getMessage()
            if record.exc_text:
                text = f"{text}\n{record.exc_text}"
            line = LogRecord(
                at=datetime.fromtimestamp(record.created, UTC),
                level=level_name(record.levelno),
                source=self.source,
                service=service_of(record.name, self.service)[:64],
                node=self.node,
                logger=record.name[:128],
                message=text[:MAX_LOG_MESSAGE],
            )
            self._queue.put_nowait(line)
        except queue.Full:
            self._drop("queue-full")
        except Exception:
            self._drop("unrenderable")

    def _drop(self, reason: str) -> None:
        self.dropped += 1
        DROPPED.labels(reason).inc()

    def _drain(self) -> None:
        """Publish queued records until the closing marker arrives."""
        while (line := self._queue.get()) is not None:
            try:
                self.send(line)
            except Exception:
                self._drop("bus-failed")

    def close(self) -> None:
        """Publish what is queued (waiting up to 5 s), then stop the thread."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=5)
        self._thread.join(timeout=5)
        super().close()


class LogShipping:
    """A component shipping every log line of this process over the bus while it runs.

    A node agent's process (service "node_agent:<node>") ships lines of source "node" for its node.
    """

    name = "log-shipping"

    def __init__(self, bus: Bus, service: str) -> None:
        self.bus = bus
        self.service, _, self.node = service.partition(":")
        self.handler: BusLogHandler | None = None

    def start(self) -> None:
        """Attach the shipping handler to the root logger."""
        source: LogSource = "node" if self.service == "node_agent" and self.node else "service"
        node = (self.node or socket.gethostname())[:64]
        bus = self.bus
        self.handler = BusLogHandler(
            lambda line: publish(bus, line, key=line.service), self.service[:64], node, source=source
        )
        logging.getLogger().addHandler(self.handler)

    def stop(self) -> None:
        """Detach the handler and publish what it still holds."""
        if self.handler is not None:
            logging.getLogger().removeHandler(self.handler)
            self.handler.close()
