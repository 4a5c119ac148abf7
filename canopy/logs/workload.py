"""A workload's stdout and stderr as log records: split into bounded lines, rate-limited per workload."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from canopy.contracts.system import LogRecord

log = logging.getLogger(__name__)

MAX_LINE = 2048  # bytes of one shipped line; a longer line is cut into pieces of this size
Send = Callable[[LogRecord], None]


class LineSplitter:
    """Cuts a byte stream into lines (without their ending) of at most `max_line` bytes."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._partial = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The complete lines the chunk finishes (empty ones skipped); a long line comes out in pieces."""
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        pieces = [piece for line in lines for piece in self._cut(line.rstrip(b"\r"))]
        while len(self._partial) >= self.max_line:
            pieces.append(self._partial[: self.max_line])
            self._partial = self._partial[self.max_line :]
        return pieces

    def _cut(self, line: bytes) -> list[bytes]:
        """A line in pieces of at most max_line bytes (none for an empty line)."""
        return [line[start : start + self.max_line] for start in range(0, len(line), self.max_line)]

    def rest(self) -> list[bytes]:
        """The unfinished last line, once the stream has ended."""
        rest, self._partial = self._partial, b""
        return [rest] if rest else []


class WorkloadLines:
    """Ships one workload's lines as LogRecords, at most `per_second` a second; the rest are counted.

    After a second in which lines were dropped, one WARNING record says how many.
    """

    def __init__(
        self,
        send: Send,
        template: LogRecord,
        per_second: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.send, self.template, self.per_second, self.clock = send, template, per_second, clock
        self.splitter = LineSplitter()
        self._window = clock()
        self._sent = 0
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        """Ship the lines a chunk of output completes."""
        for line in self.splitter.feed(chunk):
            self._line(line)

    def close(self) -> None:
        """Ship the last unfinished line and any count of dropped lines."""
        for line in self.splitter.rest():
            self._line(line)
        self._report_dropped()

    def _line(self, raw: bytes) -> None:
        if self.clock() - self._window >= 1.0:
            self._report_dropped()
            self._window, self._sent = self.clock(), 0
        if self._sent >= self.per_second:
            self.dropped += 1
            return
        self._sent += 1
        self._ship("INFO", raw.decode("utf-8", "replace"))

    def _report_dropped(self) -> None:
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            self._ship("WARNING", f"{dropped} lines dropped (over {self.per_second} lines/s)")

    def _ship(self, level: str, text: str) -> None:
        """Send one record; a bus failure loses the line, never the workload's output pump."""
        record = self.template.model_copy(update={"at": datetime.now(UTC), "level": level, "message": text})
        try:
            self.send(record)
        except Exception as exc:
            log.debug("a workload line was not shipped: %s", type(exc).__name__)


class WorkloadOutput:
    """Makes the WorkloadLines of each workload on a node, all sent through `send`."""

    def __init__(
        self, send: Send, node: str, per_second: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.send, self.node, self.per_second, self.clock = send, node, per_second, clock

    def lines_of(self, kind: str, model_id: str) -> WorkloadLines:
        """The shipper of a model replica's (kind "model") or an app instance's (kind "app") output."""
        owner = {"instance_id": model_id} if kind == "app" else {"model_id": model_id}
        template = LogRecord(
            at=datetime.now(UTC),
            level="INFO",
            source="app" if kind == "app" else "model",
            node=self.node,
            message="",
            **owner,
        )
        return WorkloadLines(self.send, template, self.per_second, self.clock)
