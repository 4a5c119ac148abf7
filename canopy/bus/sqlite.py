"""The embedded bus: a write-ahead-logged SQLite file shared by the processes of one machine."""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from canopy.bus._rules import check_subscription, check_topic, check_value, is_pattern
from canopy.bus._sqlite_bell import NEW_TOPIC, BellListener, bells_dir, ring, topic_bell
from canopy.bus._sqlite_consumer import SqliteConsumer
from canopy.bus._sqlite_schema import connect, head_offset, parse_url, write_transaction
from canopy.bus.base import Bus, Consumer, Credentials
from canopy.errors import Timeout, Unavailable

MAX_PENDING_MESSAGES = 20_000
MAX_PENDING_BYTES = 32 * 1024 * 1024
PUBLISH_BLOCK_TIMEOUT = 30.0
RETRY_PAUSE = 0.05
PRUNE_INTERVAL = 60.0
PRUNE = """
DELETE FROM messages WHERE topic = :topic AND partition_id = :partition AND msg_offset < coalesce(
    (SELECT msg_offset FROM messages WHERE topic = :topic AND partition_id = :partition AND ts >= :cutoff
     ORDER BY msg_offset LIMIT 1),
    (SELECT max(msg_offset) FROM messages WHERE topic = :topic AND partition_id = :partition))
"""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    """A published message waiting for the writer thread."""

    topic: str
    partition: int
    key: str | None
    value: bytes
    headers: str | None
    timestamp_ms: int


class SqliteBus(Bus):
    """sqlite:///abs/path.db[?session_timeout=S&retention_hours=H]: a writer thread commits batches."""

    def __init__(
        self,
        url: str,
        *,
        partitions: int = 3,
        credentials: Credentials | None = None,
        topic_prefix: str = "",
    ) -> None:
        # the bus file is the platform's own: no other platform's topics to keep apart
        super().__init__(url, partitions=partitions, credentials=credentials, topic_prefix=topic_prefix)
        self.options = parse_url(url)
        self._control = connect(self.options.path, check_same_thread=False)
        self._writer_conn = connect(self.options.path, check_same_thread=False)
        self._bells = BellListener(bells_dir(self.options.path))
        self._topics: dict[str, int] = {}
        self._topic_lock = threading.Lock()
        self._keyless_turn = itertools.count()
        self._changed = threading.Condition()
        self._pending: deque[_Pending] = deque()
        self._pending_bytes = 0
        self._queued = 0
        self._written = 0
        self._error: Exception | None = None
        self._stopping = False
        self._next_prune = 0.0
        self._writer = threading.Thread(target=self._write_loop, name="canopy-bus-writer", daemon=True)
        self._writer.start()

    def ensure_topic(self, topic: str, partitions: int | None = None) -> None:
        """Create `topic` unless it exists; an existing topic keeps its partition count."""
        self._partition_count(topic, partitions)

    def publish(
        self, topic: str, value: bytes, key: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Queue a message for the writer; it is visible to consumers within milliseconds."""
        partitions = self._topics.get(topic) or self._partition_count(topic)
        if key is None:
            partition = next(self._keyless_turn) % partitions
        else:
            partition = zlib.crc32(key.encode()) % partitions
        message = _Pending(
            topic,
            partition,
            key,
            check_value(topic, value),
            json.dumps(headers) if headers else None,
            time.time_ns() // 1_000_000,
        )
        deadline = time.monotonic() + PUBLISH_BLOCK_TIMEOUT
        with self._changed:
            if self._stopping:
                raise RuntimeError("publish() on a closed bus")
            while self._pending and (
                len(self._pending) >= MAX_PENDING_MESSAGES
                or self._pending_bytes + len(value) > MAX_PENDING_BYTES
            ):
                if not self._changed.wait(deadline - time.monotonic()):
                    raise self._stalled(f"no room to queue a message for {PUBLISH_BLOCK_TIMEOUT:.0f} s")
            self._pending.append(message)
            self._pending_bytes += len(value)
            self._queued += 1
            if len(self._pending) == 1:
                self._changed.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued message is committed, then force the log to disk."""
        deadline = time.monotonic() + timeout
        with self._changed:
            target = self._queued
            while self._written < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._stalled(f"{target - self._written} messages not written after {timeout} s")
                self._changed.wait(remaining)
        self._sync_to_disk()

    def consumer(self, group: str, topics: Sequence[str], *, from_beginning: bool = True) -> Consumer:
        """Join `group` on `topics` ('^regex' patterns too), creating the named topics if needed."""
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        for topic in topics:
            if is_pattern(check_subscription(topic)):
                continue
            self.ensure_topic(topic)
        return SqliteConsumer(
            self.options.path,
            group,
            topics,
            session_timeout=self.options.session_timeout,
            from_beginning=from_beginning,
            bells=self._bells,
        )

    def close(self) -> None:
        """Flush, stop the writer thread and close the file."""
        if self._writer.is_alive():
            try:
                self.flush()
            finally:
                with self._changed:
                    self._stopping = True
                    self._changed.notify_all()
                self._writer.join()
                self._bells.close()
                self._control.close()
                self._writer_conn.close()

    def _partition_count(self, topic: str, partitions: int | None = None) -> int:
        """The topic's partition count, creating the topic on first use."""
        with self._topic_lock:
            if topic not in self._topics:
                with write_transaction(self._control) as conn:
                    created = conn.execute(
                        "INSERT OR IGNORE INTO topics VALUES (?, ?)",
                        (check_topic(topic), partitions or self.partitions),
                    ).rowcount
                    row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
                self._topics[topic] = int(row[0])
                if created:
                    ring(self._bells.directory, [NEW_TOPIC])  # pattern subscribers take it up at once
            return self._topics[topic]

    def _write_loop(self) -> None:
        """Commit whatever is queued in one transaction, again and again, until the bus closes."""
        while True:
            with self._changed:
                while not self._pending and not self._stopping:
                    self._changed.wait()
                if not self._pending:
                    return
                batch, self._pending, self._pending_bytes = self._pending, deque(), 0
            try:
                self._write(batch)
            except sqlite3.Error as exc:
                with self._changed:
                    self._error = exc
                    if self._stopping:
                        return
                    self._pending.extendleft(reversed(batch))
                    self._pending_bytes += sum(len(message.value) for message in batch)
                time.sleep(RETRY_PAUSE)
                continue
            ring(self._bells.directory, sorted({topic_bell(message.topic) for message in batch}))
            with self._changed:
                self._written += len(batch)
                self._error = None
                self._changed.notify_all()
            if time.monotonic() >= self._next_prune:
                self._prune()

    def _write(self, batch: Sequence[_Pending]) -> None:
        """Append a batch to the log, numbering each partition's messages after its current head."""
        with write_transaction(self._writer_conn) as conn:
            heads: dict[tuple[str, int], int] = {}
            rows = []
            for message in batch:
                where = (message.topic, message.partition)
                offset = heads[where] if where in heads else head_offset(conn, *where)
                heads[where] = offset + 1
                rows.append(
                    (
                        message.topic,
                        message.partition,
                        offset,
                        message.key,
                        message.value,
                        message.headers,
                        message.timestamp_ms,
                    )
                )
            conn.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def _prune(self) -> None:
        """Delete messages past the retention period, keeping each partition's newest so offsets go on."""
        self._next_prune = time.monotonic() + PRUNE_INTERVAL
        cutoff_ms = time.time_ns() // 1_000_000 - int(self.options.retention_hours * 3_600_000)
        try:
            topics = self._writer_conn.execute("SELECT name, partitions FROM topics").fetchall()
            for topic, partitions in topics:
                for partition in range(partitions):
                    with write_transaction(self._writer_conn) as conn:
                        conn.execute(PRUNE, {"topic": topic, "partition": partition, "cutoff": cutoff_ms})
        except sqlite3.Error as exc:
            log.warning("could not prune old messages from %s: %s", self.options.path, exc)

    def _sync_to_disk(self) -> None:
        """Force the write-ahead log to disk; checkpoints already synced whatever left it."""
        try:
            descriptor = os.open(f"{self.options.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def _stalled(self, what: str) -> Timeout | Unavailable:
        """The error for a writer that cannot keep up: Unavailable if SQLite failed, else Timeout."""
        if self._error is not None:
            return Unavailable(f"SQLite bus at {self.options.path} is failing: {self._error} ({what})")
        return Timeout(f"SQLite bus at {self.options.path}: {what}")
