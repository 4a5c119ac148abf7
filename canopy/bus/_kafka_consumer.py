"""A Kafka consumer-group member: commits offset + 1 after handling, settled before partitions move."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer as RdKafkaConsumer
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import Gauge

from canopy.bus.base import Consumer, Record
from canopy.bus.naming import prefixed, unprefixed
from canopy.errors import Unavailable

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 10.0
COMMIT_INTERVAL = 0.05
PATTERN_REFRESH_MS = 5000
LAG = Gauge(
    "canopy_bus_consumer_lag",
    "Messages a consumer group has yet to read, by partition, as of its last fetch",
    ["group", "topic", "partition"],
)


class KafkaConsumer(Consumer):
    """Batches commits of handled records; librdkafka settles them before partitions move or it closes.

    `group` and `topics` are the names on the cluster; records name their topic without `topic_prefix`.
    """

    def __init__(
        self,
        common: Mapping[str, Any],
        group: str,
        topics: Sequence[str],
        *,
        session_timeout: float,
        from_beginning: bool,
        topic_prefix: str,
    ) -> None:
        self._servers = str(common["bootstrap.servers"])
        self._group = group
        self._prefix = topic_prefix
        self._from_beginning = from_beginning
        self._joined_ms = time.time_ns() // 1_000_000
        self._closed = False
        self._commits_failing = False
        self._uncommitted: dict[tuple[str, int], int] = {}
        self._next_commit = 0.0
        session_ms = int(session_timeout * 1000)
        self._consumer = RdKafkaConsumer(
            {
                **common,
                "group.id": group,
                "on_commit": self._on_commit,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest" if from_beginning else "latest",
                "session.timeout.ms": session_ms,
                "heartbeat.interval.ms": session_ms // 4,
                "fetch.wait.max.ms": 10,
                "socket.nagle.disable": True,
                # pattern subscriptions see topics created later within this many milliseconds
                "topic.metadata.refresh.interval.ms": PATTERN_REFRESH_MS,
            }
        )
        self._consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def wake(self) -> None:
        """Nothing: librdkafka's poll cannot be cut short, so loops poll for idle_poll_seconds (0.5 s)."""

    def poll(self, timeout: float = 1.0) -> Record | None:
        """Return the next record, skipping (and logging) transient errors until `timeout` runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self._uncommitted and time.monotonic() >= self._next_commit:
                self._send_commits(self._uncommitted)
            try:
                message = self._consumer.poll(max(0.0, deadline - time.monotonic()))
            except KafkaException as exc:
                raise Unavailable(f"Kafka consumer on {self._servers} failed: {exc}") from exc
            if message is None:
                return None
            error = message.error()
            if error is None:
                self._note_lag(message)
                return _record(message, self._prefix)
            if error.fatal():
                raise Unavailable(f"Kafka consumer on {self._servers} failed: {error.str()}")
            log.warning("Kafka consumer on %s: %s", self._servers, error.str())
            if time.monotonic() >= deadline:
                return None

    def _note_lag(self, message: Message) -> None:
        """Set the lag gauge of the message's partition from the high watermark of the last fetch."""
        topic, partition = str(message.topic()), int(message.partition() or 0)
        high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        if high is not None and high[1] >= 0:
            lag = max(0, high[1] - (message.offset() or 0) - 1)
            LAG.labels(
                unprefixed(self._prefix, self._group), unprefixed(self._prefix, topic), str(partition)
            ).set(lag)

    def commit(self, record: Record) -> None:
        """Note offset + 1; commits go out in the background at most every COMMIT_INTERVAL seconds."""
        self._uncommitted[(prefixed(self._prefix, record.topic), record.partition)] = record.offset + 1
        if time.monotonic() >= self._next_commit:
            self._send_commits(self._uncommitted)

    def close(self) -> None:
        """Send the last commits, then leave the group; librdkafka waits for the commits first."""
        if not self._closed:
            self._closed = True
            self._send_commits(self._uncommitted)
            self._consumer.close()

    def _send_commits(self, where: Iterable[tuple[str, int]]) -> None:
        """Commit the noted offsets of some partitions asynchronously."""
        offsets = [
            TopicPartition(topic, partition, self._uncommitted.pop((topic, partition)))
            for topic, partition in list(where)
            if (topic, partition) in self._uncommitted
        ]
        self._next_commit = time.monotonic() + COMMIT_INTERVAL
        if offsets:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            except KafkaException as exc:
                self._on_commit(exc.args[0], offsets)

    def _on_revoke(self, consumer: RdKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Commit what was handled in partitions about to move; librdkafka settles it before they do."""
        self._send_commits((tp.topic, tp.partition) for tp in partitions)

    def _on_assign(self, consumer: RdKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """Start a new group that asked for 'latest' where the log stood when this consumer was created."""
        if self._from_beginning:
            return
        try:
            starts = new_group_starts(consumer, partitions, self._joined_ms)
            if not starts:
                return
            consumer.commit(offsets=starts, asynchronous=False)
        except KafkaException as exc:
            log.warning("could not pin the start of new group on %s; using latest: %s", self._servers, exc)
            return
        start_of = {(tp.topic, tp.partition): tp.offset for tp in starts}
        for tp in partitions:
            tp.offset = start_of.get((tp.topic, tp.partition), tp.offset)
        consumer.assign(partitions)

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """Log the first of a run of refused commits (those records will be delivered again)."""
        if err is None or err.code() == KafkaError._NO_OFFSET:
            if self._commits_failing:
                log.info("commits on %s succeed again", self._servers)
            self._commits_failing = False
        elif not self._commits_failing:
            self._commits_failing = True
            log.warning(
                "commit on %s failed; uncommitted records will be delivered again: %s",
                self._servers,
                err.str(),
            )


def new_group_starts(
    consumer: RdKafkaConsumer, partitions: list[TopicPartition], joined_ms: int
) -> list[TopicPartition]:
    """Where partitions without a committed offset start: the first record stamped at or after `joined_ms`.

    A partition with no such record starts at its end as read *before* the lookup by time, so a record
    appended between the two lookups is read, not skipped (reading the end afterwards lost it).
    """
    committed = consumer.committed(partitions, timeout=LOOKUP_TIMEOUT)
    fresh = [TopicPartition(tp.topic, tp.partition, joined_ms) for tp in committed if tp.offset < 0]
    ends = {
        (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=LOOKUP_TIMEOUT)[1]
        for tp in fresh
    }
    starts: list[TopicPartition] = consumer.offsets_for_times(fresh, timeout=LOOKUP_TIMEOUT) if fresh else []
    for tp in starts:
        if tp.offset < 0:
            tp.offset = ends[(tp.topic, tp.partition)]
    return starts


def _record(message: Message, prefix: str) -> Record:
    """Convert a confluent-kafka message, its topic named without the platform's prefix."""
    key = message.key()
    return Record(
        topic=unprefixed(prefix, message.topic() or ""),
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=None if key is None else bytes(key).decode(),
        value=bytes(message.value() or b""),
        timestamp_ms=message.timestamp()[1],
        headers=_headers(message),
    )


def _headers(message: Message) -> dict[str, str]:
    """A message's headers as text."""
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {name: value.decode() if isinstance(value, bytes) else value or "" for name, value in pairs}
