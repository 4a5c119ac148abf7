"""A consumer-group member reading the SQLite bus file."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from canopy.bus._sqlite_bell import BellListener, group_bell, ring
from canopy.bus._sqlite_group import GroupMember, TopicPartition
from canopy.bus._sqlite_schema import connect
from canopy.bus.base import Consumer, Record

log = logging.getLogger(__name__)

COMMIT_INTERVAL = 0.05
MIN_PAUSE = 0.0005
MAX_PAUSE = 0.004
FETCH_ROWS = 500
FETCH_BYTES = 4 * 1024 * 1024


class SqliteConsumer(Consumer):
    """Reads its group's share of partitions; between records it sleeps until a bell of its topics rings."""

    idle_poll_seconds = 5.0  # wake() ends a poll at once, and the group syncs every 3 s within it

    def __init__(
        self,
        path: Path,
        group: str,
        topics: Sequence[str],
        *,
        session_timeout: float,
        from_beginning: bool,
        bells: BellListener,
    ) -> None:
        self._bells = bells
        self._waiter = bells.register(topics, group)
        self._group_bell = group_bell(group)
        self._conn = connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        self._member = GroupMember(
            self._conn, group, topics, session_timeout=session_timeout, from_beginning=from_beginning
        )
        self._positions: dict[TopicPartition, int] = {}
        self._buffer: deque[Record] = deque()
        self._uncommitted: dict[TopicPartition, int] = {}
        self._next_commit = 0.0
        self._seen_version = -1
        self._caught_up = False
        self._unread: set[str] | None = None  # topics rung since the last read of the log; None: all
        self._next_sync = 0.0
        self._closed = False
        self._woken = False
        self._member.join(time.time())
        ring(bells.directory, [self._group_bell])
        self._sync()

    def poll(self, timeout: float = 1.0) -> Record | None:
        """Return the next record of an owned partition, waiting up to `timeout` seconds.

        The wake-up is cleared before reading, so a commit that lands after the read rings it again. With
        bells the log is read only when one rang since the last read (then only the partitions of the
        topics rung), partitions changed hands or the group was synced (a bell that could not ring is
        made up for then), so a consumer that wakes at the end of its timeout costs next to nothing.
        """
        deadline = time.monotonic() + timeout
        pause = MIN_PAUSE
        while True:
            self._waiter.event.clear()
            news = self._waiter.take_news()
            with self._lock:
                if self._unread is not None:
                    self._unread = None if news is None else self._unread | news
                if self._closed:
                    raise RuntimeError("poll() on a closed consumer")
                synced = self._waiter.resync or time.monotonic() >= self._next_sync
                if synced:
                    self._waiter.resync = False
                    self._sync()
                if self._buffer:
                    return self._buffer.popleft()
                if self._fetch(everything=synced):
                    return self._buffer.popleft()
            now = time.monotonic()
            if now >= deadline or self._woken:
                self._woken = False
                return None
            wait = min(deadline, self._next_sync) - now
            if not self._bells.available:
                wait, pause = min(pause, wait), min(pause * 2, MAX_PAUSE)
            self._waiter.event.wait(max(wait, 0.0))

    def commit(self, record: Record) -> None:
        """Note offset + 1; it is written at once unless more records are already buffered."""
        with self._lock:
            if self._closed:
                raise RuntimeError("commit() on a closed consumer")
            self._uncommitted[(record.topic, record.partition)] = record.offset + 1
            if not self._buffer or time.monotonic() >= self._next_commit:
                self._write_commits()

    def wake(self) -> None:
        """Make a poll waiting on another thread (or the next one) return None at once."""
        self._woken = True
        self._waiter.event.set()

    def close(self) -> None:
        """Write the last commits and leave the group at once; others take over from there."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._bells.unregister(self._waiter)
            try:
                self._write_commits()
                self._member.leave()
                ring(self._bells.directory, [self._group_bell])
            finally:
                self._conn.close()

    def _write_commits(self) -> None:
        """Store the noted offsets, skipping partitions that have moved to another member."""
        if self._uncommitted:
            for topic, partition in self._member.commit(self._uncommitted):
                log.warning(
                    "not committing %s[%d]: the partition now belongs to another member", topic, partition
                )
            self._uncommitted.clear()
        self._next_commit = time.monotonic() + COMMIT_INTERVAL

    def _sync(self) -> None:
        """Heartbeat and rebalance, dropping buffered records of partitions that left or restarted."""
        self._write_commits()
        owned, started = self._member.sync(time.time())
        lost = set(self._positions) - owned
        for tp in lost:
            del self._positions[tp]
        self._positions.update(started)
        if lost:
            ring(self._bells.directory, [self._group_bell])  # a member waiting for these can take them now
        if lost or started:
            restarted = lost | set(started)
            self._buffer = deque(
                record for record in self._buffer if (record.topic, record.partition) not in restarted
            )
            self._caught_up = False
        self._next_sync = time.monotonic() + self._member.heartbeat_interval  # changes ring a bell

    def _fetch(self, everything: bool) -> bool:
        """Read new records into the buffer; False when none were found.

        Only the owned partitions of topics whose bell rang since the last read are read, unless
        `everything` is asked for, the last read stopped short, or it is unsure what rang.
        """
        unread, self._unread = self._unread, set()
        everything = everything or unread is None or not self._caught_up or not self._bells.available
        if not everything and not unread:
            return False
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._seen_version and self._caught_up:
            return False
        self._seen_version = version if everything else -1  # other topics' news may be in this version
        self._caught_up = True
        for (topic, partition), position in self._positions.items():
            if everything or topic in (unread or ()):
                self._positions[(topic, partition)] = self._fetch_partition(topic, partition, position)
        return bool(self._buffer)

    def _fetch_partition(self, topic: str, partition: int, position: int) -> int:
        """Buffer one partition's records from `position` on, within the row and byte budgets."""
        cursor = self._conn.execute(
            "SELECT msg_offset, key, value, headers, ts FROM messages"
            " WHERE topic = ? AND partition_id = ? AND msg_offset >= ? ORDER BY msg_offset LIMIT ?",
            (topic, partition, position, FETCH_ROWS),
        )
        budget, rows = FETCH_BYTES, 0
        try:
            for offset, key, value, headers, ts in cursor:
                self._buffer.append(
                    Record(
                        topic,
                        partition,
                        offset,
                        key,
                        bytes(value),
                        ts,
                        json.loads(headers) if headers else {},
                    )
                )
                position, budget, rows = offset + 1, budget - len(value), rows + 1
                if budget <= 0:
                    break
        finally:
            cursor.close()
        if budget <= 0 or rows == FETCH_ROWS:
            self._caught_up = False
        return position
