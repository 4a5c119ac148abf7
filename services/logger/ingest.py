"""The logger's consumer: log records and dead letters off the bus into the store, a batch at a time.

A batch is what arrives within BATCH_WINDOW (at most BATCH_SIZE records); it is stored in one
transaction and only then committed. A payload that is not a log record or a dead letter is stored
as a dead letter with its reason, so nothing is skipped and nothing loops back onto the bus.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from prometheus_client import Counter

from canopy.bus import Bus, Record
from canopy.bus.typed import dead_letter_for
from canopy.contracts import decode, topics
from canopy.contracts.system import DeadLetter, LogRecord
from canopy.errors import DecodeError
from canopy.logs.store import Row, dead_letter_row, log_row, store_batch
from canopy.runtime.component import LoopThread
from canopy.store import Store

BATCH_SIZE = 5000
BATCH_WINDOW = 0.05  # seconds a batch may wait for more records
STORED = Counter("canopy_log_records_stored_total", "Records the logger stored, by kind", ["kind"])


def received_at(record: Record) -> datetime:
    """When the bus took a record."""
    return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)


def sort_batch(records: Sequence[Record], group: str) -> tuple[list[Row], list[Row]]:
    """The log rows and dead-letter rows of a batch; anything else becomes a dead letter with its reason."""
    lines: list[Row] = []
    letters: list[Row] = []
    for record in records:
        try:
            message = decode(record.value).message
        except DecodeError as exc:
            message = dead_letter_for(record, group, exc.message)
        if isinstance(message, LogRecord):
            lines.append(log_row(message))
            continue
        if not isinstance(message, DeadLetter):
            message = dead_letter_for(record, group, f"{message.TYPE} is not a log record or a dead letter")
        letters.append(dead_letter_row(message, received_at(record)))
    return lines, letters


class LogIngest(LoopThread):
    """Consumes canopy.logs and canopy.deadletter in group `group`, storing batches."""

    name = "logger-ingest"

    def __init__(self, bus: Bus, store: Store, group: str, from_beginning: bool = True) -> None:
        super().__init__()
        self.bus, self.store, self.group, self.from_beginning = bus, store, group, from_beginning
        self._pending: list[Record] = []

    def start(self) -> None:
        """Join the group on both topics, then run."""
        for topic in (topics.LOGS, topics.DEADLETTER):
            self.bus.ensure_topic(topic)
        self.consumer = self.bus.consumer(
            self.group, [topics.LOGS, topics.DEADLETTER], from_beginning=self.from_beginning
        )
        super().start()

    def step(self) -> None:
        """Store one batch (a batch that failed to store is tried again first)."""
        batch = self._pending or self._gather()
        if not batch:
            return
        self._pending = batch
        lines, letters = sort_batch(batch, self.group)
        store_batch(self.store, lines, letters)
        STORED.labels("log").inc(len(lines))
        STORED.labels("deadletter").inc(len(letters))
        last = {(record.topic, record.partition): record for record in batch}
        for record in last.values():
            self.consumer.commit(record)
        self._pending = []

    def _gather(self) -> list[Record]:
        """The records that arrive within BATCH_WINDOW of the first one (none while the bus stays idle)."""
        first = self.consumer.poll(self.consumer.idle_poll_seconds)
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + BATCH_WINDOW
        while len(batch) < BATCH_SIZE and (left := deadline - time.monotonic()) > 0:
            record = self.consumer.poll(left)
            if record is None:
                break
            batch.append(record)
        return batch

    def interrupt(self) -> None:
        """End the wait for the first record of a batch."""
        self.consumer.wake()

    def stop(self) -> None:
        """Stop the loop and leave the group."""
        super().stop()
        self.consumer.close()
